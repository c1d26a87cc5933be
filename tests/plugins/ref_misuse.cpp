// Reference-style orchestration that misuses the interface in the way
// selected by scalar 0; every call ignores its result and the entry
// returns 0, except case 5, which returns 3:
//   1: device_free twice   2: add_task with num_args -1
//   3: core type 7         4: record_tensor_pair on memory never allocated
//   5: return 3
#include <iostream>

#include "orchestration_api.h"

extern "C" int build_misuse_graph(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &orch_args) {
    uint64_t word = 0;
    void *dev = device_malloc(runtime, 64);
    std::cout << "build_misuse_graph: case " << orch_args.scalar(0) << '\n';
    switch (orch_args.scalar(0)) {
    case 1:
        device_free(runtime, dev);
        device_free(runtime, dev);
        break;
    case 2:
        add_task(runtime, &word, -1, 0, CoreType::AIV);
        break;
    case 3:
        add_task(runtime, &word, 1, 0, static_cast<CoreType>(7));
        break;
    case 4:
        record_tensor_pair(runtime, &word, &word, sizeof word);
        break;
    case 5:
        return 3;
    default:
        break;
    }
    add_task(runtime, &word, 1, 0, CoreType::AIV);
    return 0;
}
