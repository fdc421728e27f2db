/*
 * size_classes.c - the table behind malloc_index16 (size_classes.h).
 */
#include "size_classes.h"

const uint8_t sm_malloc_class16[SM_MALLOC_TABLE_MAX / 16 + 1] = {
	0, 1, 3, 5, 7, 8, 9, 10, 11, 12, 12, 13, 13, 14, 14, 15,
	15, 16, 16, 16, 16, 17, 17, 17, 17, 18, 18, 18, 18, 19, 19, 19,
	19, 20, 20, 20, 20, 20, 20, 20, 20, 21, 21, 21, 21, 21, 21, 21,
	21, 22, 22, 22, 22, 22, 22, 22, 22, 23, 23, 23, 23, 23, 23, 23,
	23,
};
