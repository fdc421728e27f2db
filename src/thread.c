/*
 * thread.c - the per-thread TLS block (thread.h).  Initial-exec, so every
 * access is one %fs-relative load with no call, even from the shared
 * library; it is small enough for glibc's static TLS surplus.
 */
#include "thread.h"

__thread struct sm_thread_state sm_thread __attribute__((tls_model("initial-exec")));
