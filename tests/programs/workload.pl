#!/usr/bin/perl
# workload.pl - a hash-heavy, deterministic Perl workload for the slabmalloc
# integration tests (tests/programs/perl.sh): big hashes grown, shrunk and
# rebuilt, nested hashes of arrays, string building, regex substitutions,
# sorting, 4 interpreter threads (ithreads: each clones the interpreter, a
# storm of allocations) and 2 forked children reporting through pipes.
# Standard output depends only on the argument: it must be byte-identical
# with and without slabmalloc.  On stderr: whether libslabmalloc.so is
# mapped into this process (from /proc/self/maps).
use strict;
use warnings;
use threads;
use Digest::MD5 qw(md5_hex);

my $scale = shift // 1;

sub rng {
	my $seed = shift;
	$seed = $seed % 2147483647 || 1;
	return sub { $seed = ($seed * 16807) % 2147483647; return $seed % $_[0]; };
}

sub word {
	my ($r, $lo, $hi) = @_;
	my $n = $lo + $r->($hi - $lo + 1);
	return join '', map { chr(97 + $r->(26)) } 1 .. $n;
}

sub hash_work {
	my ($seed, $n) = @_;
	my $r = rng($seed);
	my $ctx = Digest::MD5->new;
	my %count;
	my %nested;
	for my $i (1 .. $n) {
		my $w = word($r, 2, 7);
		$count{$w}++;
		push @{ $nested{substr($w, 0, 2)}{length $w} }, $i;
		if ($i % 5000 == 0) {
			# drop a third of the keys, rename some others
			my @k = sort keys %count;
			delete @count{ @k[grep { $_ % 3 == 0 } 0 .. $#k] };
			for my $j (grep { $_ % 7 == 1 } 0 .. $#k) {
				my $old = $k[$j];
				$count{ uc($old) . $i } = delete $count{$old} if exists $count{$old};
			}
		}
	}
	my @top = sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count;
	$ctx->add(join ',', map { "$_=$count{$_}" } @top);
	for my $p (sort keys %nested) {
		for my $l (sort { $a <=> $b } keys %{ $nested{$p} }) {
			my $list = $nested{$p}{$l};
			$ctx->add("$p/$l:" . scalar(@$list) . ':' . ($list->[0] + $list->[-1]));
		}
	}
	return (scalar(keys %count), scalar(keys %nested), $ctx->hexdigest, join(' ', @top[0 .. 4]));
}

sub string_work {
	my ($seed, $n) = @_;
	my $r = rng($seed);
	my $ctx = Digest::MD5->new;
	my $total = 0;
	for my $round (1 .. $n) {
		my @w = map { word($r, 1, 12) } 1 .. 400;
		my $s = join ' ', @w;
		(my $t = $s) =~ s/([aeiou])([^aeiou ]*)/\U$1\E<$2>/g;
		my @parts = split /[<> ]+/, $t;
		my $buf = '';
		$buf .= sprintf("%05d:%s;", $_, $parts[$_]) for 0 .. $#parts;
		$buf x= 1 + $round % 4;
		substr($buf, $round % 100, 10) = 'X' x ($round % 50);
		my %seen;
		my @uniq = grep { !$seen{$_}++ } sort { length($a) <=> length($b) || $a cmp $b } @w;
		$ctx->add($buf, join('|', @uniq));
		$total += length($buf) + @uniq;
	}
	return ($total, $ctx->hexdigest);
}

sub job {
	my ($seed) = @_;
	my @h = hash_work($seed, 40000 * $scale);
	my @s = string_work($seed + 1, 40 * $scale);
	return join ' ', @h, @s;
}

my @out;
push @out, 'main ' . job(1);

# 4 threads, joined in order.
my @t = map { my $s = 100 + $_; threads->create(sub { job($s) }) } 1 .. 4;
push @out, "thread $_ " . $t[$_ - 1]->join for 1 .. 4;

# 2 forked children, each writing its result into a pipe.
my @kids;
for my $k (1 .. 2) {
	pipe(my $rd, my $wr) or die "pipe: $!";
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		close $rd;
		print {$wr} job(200 + $k);
		close $wr;
		exit 0;
	}
	close $wr;
	push @kids, [$pid, $rd, $k];
}
for my $kid (@kids) {
	my ($pid, $rd, $k) = @$kid;
	local $/;
	my $res = <$rd>;
	close $rd;
	waitpid($pid, 0) == $pid or die "waitpid: $!";
	die "child $k failed: status $?" if $?;
	push @out, "child $k $res";
}

print "$_\n" for @out;
print 'digest ', md5_hex(join "\n", @out), "\n";

open my $maps, '<', '/proc/self/maps' or die "maps: $!";
my $mapped = grep { /libslabmalloc/ } <$maps>;
print STDERR 'libslabmalloc mapped: ', ($mapped ? 'yes' : 'no'), "\n";
