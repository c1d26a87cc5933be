/* Adds two tasks and an edge to task 7 (which does not exist), ignores the
 * status and returns 0: the latched error must still fail the build. */
#include "orchestration_api.h"

int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
    (void)args;
    void *scratch = device_malloc(rt, 256);
    (void)scratch;
    int32_t a = add_task(rt, NULL, 0, 0, CORE_TYPE_AIV);
    int32_t b = add_task(rt, NULL, 0, 0, CORE_TYPE_AIC);
    (void)add_successor(rt, a, 7);
    (void)add_successor(rt, a, b);
    return 0;
}
