/* Linked with -lslabmalloc: malloc itself must be slabmalloc's. */
#include <stdio.h>
#include <stdlib.h>
#include <slabmalloc.h>

int main(void)
{
	void *p = malloc(100);
	sm_instance_t *inst = sm_ptr_instance(p);
	free(p);
	if (inst != sm_default_instance()) {
		fprintf(stderr, "malloc is not slabmalloc's\n");
		return 1;
	}
	puts("consumer ok");
	return 0;
}
