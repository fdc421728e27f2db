#include <stdio.h>
#include <string.h>
#include "slabmalloc.h"
int main(void)
{
	sm_instance_t *in = sm_instance_create(NULL);
	if (!in) { perror("create"); return 1; }
	void *p[1000];
	for (int r = 0; r < 100; r++) {
		for (int i = 0; i < 1000; i++) { p[i] = sm_kmalloc(in, (size_t)(i * 37 % 5000) + 1, 0); memset(p[i], i, (size_t)(i*37%5000)+1); }
		for (int i = 0; i < 1000; i++) sm_kfree(p[i]);
	}
	void *big = sm_kmalloc(in, 1 << 20, 0);
	memset(big, 1, 1 << 20);
	sm_kfree(big);
	void *huge = sm_kmalloc(in, 64 << 20, 0);
	sm_kfree(huge);
	printf("ok\n");
	sm_instance_destroy(in);
	return 0;
}
