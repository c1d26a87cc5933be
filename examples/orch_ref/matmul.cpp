/*
 * matmul, written for the reference runtime's orchestration interface:
 * F = exp(sqrt(ln(A)) @ W1 + sqrt(ln(A)) @ W2).
 *
 * Args: tensors [A, W1, W2, F], each a flat square matrix of
 * SIZE = tensor(0).shapes[0] elements (A, W1, W2 f16; F f32). A diamond:
 * t0 (AIV, func 0) B = sqrt(ln(A)) in f16; t1, t2 (AIC, func 1)
 * C = B @ W1, D = B @ W2 in f32; t3 (AIV, func 2) F = exp(C + D); every
 * task's last word is SIZE.
 */
#include <cstdint>
#include <iostream>

#include "orchestration_api.h"

namespace {

uint64_t address(void *p) { return reinterpret_cast<uint64_t>(p); }

// A device copy of tensor i, or nullptr.
void *upload(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &orch_args, int i) {
    void *dev = device_malloc(runtime, orch_args.tensor(i).nbytes());
    if (dev != nullptr && copy_to_device(runtime, dev, orch_args.tensor(i).data_as<void>(),
                                         orch_args.tensor(i).nbytes()) != 0) {
        return nullptr;
    }
    return dev;
}

}  // namespace

extern "C" int build_matmul_graph(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &orch_args) {
    if (orch_args.tensor_count() < 4) {
        std::cerr << "build_matmul_graph: expected tensors [A, W1, W2, F], got " << orch_args.tensor_count()
                  << '\n';
        return -1;
    }
    const uint32_t size = orch_args.tensor(0).shapes[0];
    if (orch_args.tensor(0).dtype != DataType::FLOAT16 || orch_args.tensor(3).dtype != DataType::FLOAT32) {
        std::cerr << "build_matmul_graph: A must be FLOAT16 and F FLOAT32\n";
        return -1;
    }
    std::cout << "build_matmul_graph: F = exp(sqrt(ln A) @ W1 + sqrt(ln A) @ W2), " << size << " elements\n";

    void *dev_a = upload(runtime, orch_args, 0);
    void *dev_w1 = upload(runtime, orch_args, 1);
    void *dev_w2 = upload(runtime, orch_args, 2);
    void *dev_f = device_malloc(runtime, orch_args.tensor(3).nbytes());
    void *dev_b = device_malloc(runtime, size * sizeof(uint16_t));
    void *dev_c = device_malloc(runtime, size * sizeof(float));
    void *dev_d = device_malloc(runtime, size * sizeof(float));
    if (!dev_a || !dev_w1 || !dev_w2 || !dev_f || !dev_b || !dev_c || !dev_d) {
        std::cerr << "build_matmul_graph: device memory setup failed\n";
        return -1;
    }
    record_tensor_pair(runtime, orch_args.tensor(3).data_as<void>(), dev_f, orch_args.tensor(3).nbytes());

    uint64_t log_sqrt_args[3] = {address(dev_a), address(dev_b), size};
    uint64_t matmul1_args[4] = {address(dev_b), address(dev_w1), address(dev_c), size};
    uint64_t matmul2_args[4] = {address(dev_b), address(dev_w2), address(dev_d), size};
    uint64_t add_exp_args[4] = {address(dev_c), address(dev_d), address(dev_f), size};
    int t0 = add_task(runtime, log_sqrt_args, 3, 0, CoreType::AIV);
    int t1 = add_task(runtime, matmul1_args, 4, 1, CoreType::AIC);
    int t2 = add_task(runtime, matmul2_args, 4, 1, CoreType::AIC);
    int t3 = add_task(runtime, add_exp_args, 4, 2, CoreType::AIV);
    add_successor(runtime, t0, t1);
    add_successor(runtime, t0, t2);
    add_successor(runtime, t1, t3);
    add_successor(runtime, t2, t3);

    std::cout << "build_matmul_graph: " << get_task_count(runtime) << " tasks (2 AIC, 2 AIV)\n";
    print_runtime(runtime);
    return 0;
}
