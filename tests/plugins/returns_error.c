/* Allocates device memory, adds a task, then returns 3. */
#include "orchestration_api.h"

int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
    (void)args;
    if (device_malloc(rt, 1024) == NULL) return -100;
    if (add_task(rt, NULL, 0, 0, CORE_TYPE_AIV) < 0) return -101;
    return 3;
}
