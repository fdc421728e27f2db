/* double_free_other_thread: a 64-byte object freed by a second thread, then
 * freed again by the thread that allocated it.
 * Detected: the second free, or the churn, stops the process.
 * Idea: the cross-thread shape of glibc's malloc/tst-tcfree tests (a bug
 * class real programs have: two owners of one pointer).
 */
#include <pthread.h>
#include "misuse.h"

static void *release(void *p)
{
	free(p);
	return NULL;
}

int main(void)
{
	char *p = must_malloc(64);
	pthread_t t;

	if (pthread_create(&t, NULL, release, p) != 0 || pthread_join(t, NULL) != 0)
		return 1;
	free(opaque(p));
	churn(64, 1000);
	return 0;
}
