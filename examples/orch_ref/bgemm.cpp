/*
 * bgemm, written for the reference runtime's orchestration interface:
 * C += A @ B in tiles.
 *
 * Args: tensors [A, B, C] (f32), tile-major [batch, grid rows, grid
 * columns, tile rows, tile columns]: tile (m, k) of A starts at
 * ((b * GM + m) * GK + k) tiles, likewise B (k, n) and C (m, n). Per
 * output tile one partial-product buffer P and a chain over k:
 * gemm_k (AIC, func 0: A tile, B tile, P, TM, TK, TN) -> add_k (AIV,
 * func 1: C tile, P, C tile, TM, TN) -> gemm_k+1 ...
 */
#include <cstdint>
#include <iostream>
#include <vector>

#include "orchestration_api.h"

namespace {

uint64_t address(void *p) { return reinterpret_cast<uint64_t>(p); }

// Address of tile (b, r, c) of a tile-major matrix in device memory.
uint64_t tile(void *base, uint32_t b, uint32_t r, uint32_t c, uint32_t rows, uint32_t cols, size_t tile_bytes) {
    return address(base) + ((static_cast<uint64_t>(b) * rows + r) * cols + c) * tile_bytes;
}

}  // namespace

extern "C" int build_bgemm_graph(OrchestrationRuntime *runtime, const ChipStorageTaskArgs &orch_args) {
    if (orch_args.tensor_count() < 3) {
        std::cerr << "build_bgemm_graph: expected tensors [A, B, C], got " << orch_args.tensor_count() << '\n';
        return -1;
    }
    const ContinuousTensor &a = orch_args.tensor(0), &b = orch_args.tensor(1), &c = orch_args.tensor(2);
    if (a.ndims != 5 || b.ndims != 5 || c.ndims != 5) {
        std::cerr << "build_bgemm_graph: A, B and C must be tile-major [batch, rows, cols, tile, tile]\n";
        return -1;
    }
    const uint32_t batch = a.shapes[0], gm = a.shapes[1], gk = a.shapes[2], gn = b.shapes[2];
    const uint32_t tm = a.shapes[3], tk = a.shapes[4], tn = b.shapes[4];
    if (b.shapes[1] != gk || b.shapes[3] != tk || c.shapes[1] != gm || c.shapes[2] != gn || c.shapes[3] != tm ||
        c.shapes[4] != tn) {
        std::cerr << "build_bgemm_graph: tile grids of A, B and C do not agree\n";
        return -1;
    }
    std::cout << "build_bgemm_graph: grid " << gm << " x " << gk << " x " << gn << " of " << tm << " x " << tn
              << " tiles\n";

    void *dev_a = device_malloc(runtime, a.nbytes());
    void *dev_b = device_malloc(runtime, b.nbytes());
    void *dev_c = device_malloc(runtime, c.nbytes());
    if (!dev_a || !dev_b || !dev_c) {
        std::cerr << "build_bgemm_graph: device_malloc failed\n";
        return -1;
    }
    copy_to_device(runtime, dev_a, a.data_as<void>(), a.nbytes());
    copy_to_device(runtime, dev_b, b.data_as<void>(), b.nbytes());
    copy_to_device(runtime, dev_c, c.data_as<void>(), c.nbytes());
    record_tensor_pair(runtime, c.data_as<void>(), dev_c, c.nbytes());

    const size_t a_tile = size_t{tm} * tk * sizeof(float), b_tile = size_t{tk} * tn * sizeof(float);
    const size_t c_tile = size_t{tm} * tn * sizeof(float);
    std::vector<void *> partial(size_t{batch} * gm * gn);
    for (void *&p : partial) {
        p = device_malloc(runtime, c_tile);
        if (p == nullptr) {
            std::cerr << "build_bgemm_graph: device_malloc of a P buffer failed\n";
            return -1;
        }
    }

    for (uint32_t bi = 0; bi < batch; bi++) {
        for (uint32_t m = 0; m < gm; m++) {
            for (uint32_t n = 0; n < gn; n++) {
                void *p = partial[(size_t{bi} * gm + m) * gn + n];
                const uint64_t c_at = tile(dev_c, bi, m, n, gm, gn, c_tile);
                int last_add = -1;
                for (uint32_t k = 0; k < gk; k++) {
                    uint64_t gemm_args[6] = {tile(dev_a, bi, m, k, gm, gk, a_tile), tile(dev_b, bi, k, n, gk, gn, b_tile),
                                             address(p), tm, tk, tn};
                    int gemm = add_task(runtime, gemm_args, 6, 0, CoreType::AIC);
                    uint64_t add_args[5] = {c_at, address(p), c_at, tm, tn};
                    int add = add_task(runtime, add_args, 5, 1, CoreType::AIV);
                    add_successor(runtime, gemm, add);
                    if (last_add >= 0) add_successor(runtime, last_add, gemm);
                    last_add = add;
                }
            }
        }
    }
    std::cout << "build_bgemm_graph: " << get_task_count(runtime) << " tasks\n";
    return 0;
}
