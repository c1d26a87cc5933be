// Reference-style orchestration with an edge to task 7, which does not
// exist. The reference's add_successor returns nothing and the entry
// returns 0; hostgraph latches the failure and the build fails.
#include <iostream>

#include "orchestration_api.h"

extern "C" int build_bad_edge_graph(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &orch_args) {
    (void)orch_args;
    void *scratch = device_malloc(runtime, 256);
    uint64_t args[1] = {reinterpret_cast<uint64_t>(scratch)};
    int t0 = add_task(runtime, args, 1, 0, CoreType::AIV);
    int t1 = add_task(runtime, args, 1, 0, CoreType::AIC);
    add_successor(runtime, t0, 7);
    add_successor(runtime, t0, t1);
    std::cout << "build_bad_edge_graph: " << get_task_count(runtime) << " tasks\n";
    return 0;
}
