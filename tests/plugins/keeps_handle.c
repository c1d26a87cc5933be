/* Misuses its runtime handle, both ways a plugin can: `entry` keeps it and
 * `poke_later` calls through it after the entry returned; `entry_threaded`
 * calls through it from a thread of its own (joined before the entry
 * returns) and ignores the status. Both calls must be refused, and the
 * second must fail the build. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "orchestration_api.h"

static OrchestrationRuntime *kept;
static const OrchestrationRuntimeOps *kept_ops;

int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
    (void)args;
    kept = rt;
    kept_ops = rt->ops;
    return add_task(rt, NULL, 0, 0, CORE_TYPE_AIV) < 0;
}

/* A call through the kept handle (not read through: it is gone). */
__attribute__((visibility("default"))) int32_t poke_later(void) {
    return kept_ops->add_task(kept, NULL, 0, 0, CORE_TYPE_AIV);
}

static int32_t from_thread = 1;

static void *add_from_thread(void *rt) {
    from_thread = add_task((OrchestrationRuntime *)rt, NULL, 0, 0, CORE_TYPE_AIV);
    return NULL;
}

int entry_threaded(OrchestrationRuntime *rt, const OrchArgs *args) {
    pthread_t thread;
    (void)args;
    if (add_task(rt, NULL, 0, 0, CORE_TYPE_AIV) < 0) return 1;
    if (pthread_create(&thread, NULL, add_from_thread, rt) != 0) return 2;
    pthread_join(thread, NULL);
    return 0;
}

/* What the thread's add_task returned. */
__attribute__((visibility("default"))) int32_t thread_status(void) { return from_thread; }
