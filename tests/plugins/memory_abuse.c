/* Selected by the scalar argument: 1 = double free, 2 = free of an unknown
 * pointer, 3 = copy past the end of an allocation, 4 = tensor pair with a
 * null host pointer, 5 = zero-size tensor pair, 6 = bad core type,
 * 7 = too many argument words: ignores every status and returns 0. 8 = a free
 * of NULL, which is no error: returns its status, and adds one task if it
 * was ORCH_OK. */
#include <stdlib.h>

#include "orchestration_api.h"

int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
    uint64_t which = args->num_scalars > 0 ? args->scalars[0] : 0;
    char host[64] = {0};
    char *dev = (char *)device_malloc(rt, 64);
    uint64_t *many;
    switch (which) {
        case 1:
            (void)device_free(rt, dev);
            (void)device_free(rt, dev);
            break;
        case 2:
            (void)device_free(rt, dev + 8);
            break;
        case 3:
            (void)copy_to_device(rt, dev + 32, host, 64);
            break;
        case 4:
            (void)record_tensor_pair(rt, NULL, dev, 64);
            break;
        case 5:
            (void)record_tensor_pair(rt, host, dev, 0);
            break;
        case 6:
            (void)add_task(rt, NULL, 0, 0, (CoreType)7);
            break;
        case 7:
            many = (uint64_t *)calloc(ORCH_MAX_TASK_ARGS + 1, sizeof(uint64_t));
            (void)add_task(rt, many, ORCH_MAX_TASK_ARGS + 1, 0, CORE_TYPE_AIV);
            free(many);
            break;
        case 8:
            if (device_free(rt, NULL) != ORCH_OK) return device_free(rt, NULL);
            (void)device_free(rt, dev);
            return add_task(rt, NULL, 0, 0, CORE_TYPE_AIV) < 0 ? -1 : 0;
        default:
            break;
    }
    return 0;
}
