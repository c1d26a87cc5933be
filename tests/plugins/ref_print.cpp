// Reference-style orchestration that reports its graph: an AIC task, an
// AIV task after it and one device allocation, then print_runtime.
#include "orchestration_api.h"

extern "C" int build_print_graph(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &) {
    uint64_t word = 0;
    if (device_malloc(runtime, 64) == nullptr) return 1;
    int a = add_task(runtime, &word, 1, 0, CoreType::AIC);
    int b = add_task(runtime, &word, 1, 0, CoreType::AIV);
    add_successor(runtime, a, b);
    print_runtime(runtime);
    return 0;
}
