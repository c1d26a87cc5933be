// Reference-style orchestration whose second task uses func_id 42, which
// no test registers a kernel for: the build succeeds, the run is refused.
#include <iostream>

#include "orchestration_api.h"

extern "C" int build_unknown_func_graph(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &orch_args) {
    (void)orch_args;
    int t0 = add_task(runtime, nullptr, 0, 0, CoreType::AIV);
    int t1 = add_task(runtime, nullptr, 0, 42, CoreType::AIC);
    add_successor(runtime, t0, t1);
    std::cout << "build_unknown_func_graph: " << get_task_count(runtime) << " tasks\n";
    return 0;
}
