// Reference-style orchestration with the cycle t1 -> t2 -> t3 -> t1 behind
// t0: the build succeeds, the run is refused naming the cycle.
#include <iostream>

#include "orchestration_api.h"

extern "C" int build_cycle_graph(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &orch_args) {
    (void)orch_args;
    int t[4];
    for (int i = 0; i < 4; i++) t[i] = add_task(runtime, nullptr, 0, 0, i % 2 ? CoreType::AIC : CoreType::AIV);
    add_successor(runtime, t[0], t[1]);
    add_successor(runtime, t[1], t[2]);
    add_successor(runtime, t[2], t[3]);
    add_successor(runtime, t[3], t[1]);
    std::cout << "build_cycle_graph: " << get_task_count(runtime) << " tasks\n";
    return 0;
}
