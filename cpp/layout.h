// The size table: where each weight matrix and bias vector lives in the one flat parameter buffer.
// Weight matrices come first (row-major, in layer order), then the biases, so weight decay sweeps one range
// and the flat buffer is exactly the vector an optimizer such as L-BFGS (or an allreduce) works on.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace fastmlp {

struct Layout {
    std::vector<int> sizes;                     // layer widths, input first
    int n_layers = 0;                           // number of weight layers = sizes.size() − 1
    std::vector<int> weight_block;              // layer l uses stored matrix weight_block[l] ...
    std::vector<char> transposed;               // ... as Wᵀ when transposed[l] (the tied decoder)
    std::vector<char> accumulate_dw;            // backward adds into dW: a later layer wrote it first
    std::vector<std::ptrdiff_t> weight_offset;  // per stored matrix
    std::vector<std::ptrdiff_t> bias_offset;    // per layer
    std::ptrdiff_t n_weights = 0;               // weights occupy [0, n_weights)
    std::ptrdiff_t size = 0;                    // total parameter count

    Layout() = default;
    Layout(const std::vector<int>& layer_sizes, bool tied) : sizes(layer_sizes) {
        if (sizes.size() < 2) throw std::invalid_argument("layer_sizes needs at least 2 entries");
        for (int s : sizes)
            if (s < 1) throw std::invalid_argument("layer sizes must be >= 1, got " + std::to_string(s));
        n_layers = int(sizes.size()) - 1;
        if (tied && (n_layers != 2 || sizes[0] != sizes[2]))
            throw std::invalid_argument("tied weights need layer sizes (n_in, n_hidden, n_in)");
        for (int l = 0; l < n_layers; ++l) {
            weight_block.push_back(tied ? 0 : l);
            transposed.push_back(tied && l == 1);
            accumulate_dw.push_back(tied && l == 0);  // backward runs decoder first, then encoder adds
        }
        const int n_blocks = tied ? 1 : n_layers;
        for (int k = 0; k < n_blocks; ++k) {
            weight_offset.push_back(size);
            size += std::ptrdiff_t(sizes[k]) * sizes[k + 1];
        }
        n_weights = size;
        for (int l = 0; l < n_layers; ++l) {
            bias_offset.push_back(size);
            size += sizes[l + 1];
        }
    }

    int max_width() const {
        int w = 0;
        for (std::size_t l = 1; l < sizes.size(); ++l) w = sizes[l] > w ? sizes[l] : w;
        return w;
    }
};

}  // namespace fastmlp
