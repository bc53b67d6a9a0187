// PyTorch-identical CPU random numbers (spec/torch-rng.md): the same seed gives the same
// bits as PyTorch 1.13.1 for rand, randn, uniform_, normal_ and Conv initialization.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>

#include "convkit/export.h"
#include "convkit/tensor.h"

namespace convkit {

/// MT19937 with PyTorch's seeding, 64-bit draws and cached normal value. Thread-safe: every
/// fill holds the generator's lock, so results never depend on threads.
class CONVKIT_API Generator {
 public:
  /// Seeded like torch.Generator(): 67280421310721.
  Generator();
  /// Seeded as after manual_seed(seed).
  explicit Generator(uint64_t seed);

  /// Any 64-bit seed; a negative int64 wraps modulo 2^64 (manual_seed(-1) == 2^64 - 1).
  /// Only the low 32 bits seed the engine. Clears the cached normal value.
  void manual_seed(uint64_t seed);
  /// The seed last given (torch.Generator.initial_seed()).
  uint64_t initial_seed() const;

  /// One engine word.
  uint32_t random();
  /// Two engine words, the first one the high half.
  uint64_t random64();
  /// n engine words, the same as n calls of random() (faster).
  void fill_words(uint32_t* out, int64_t n);

  /// The lock every fill holds; exposed for the fill functions.
  std::mutex& mutex() { return mutex_; }
  /// PyTorch's cached double normal (per-element Box-Muller path only).
  std::optional<double>& cached_normal() { return cached_normal_; }

 private:
  void regenerate();

  std::array<uint32_t, 624> mt_{};
  int next_ = 0;
  int left_ = 1;
  uint64_t seed_ = 0;
  std::optional<double> cached_normal_;
  std::mutex mutex_;
};

/// The process-wide generator. Unlike PyTorch's (seeded from the clock), it starts from
/// Generator()'s fixed seed, so a program is reproducible even without manual_seed.
CONVKIT_API Generator& default_generator();
/// Seeds the default generator (torch.manual_seed).
CONVKIT_API void manual_seed(uint64_t seed);
/// The default generator's seed (torch.initial_seed).
CONVKIT_API uint64_t initial_seed();

/// U[0, 1) (torch.rand). gen == nullptr uses the default generator.
CONVKIT_API Tensor rand(const Shape& shape, DType dtype = kFloat32, Generator* gen = nullptr);
/// N(0, 1) (torch.randn). Complex dtypes get real and imaginary parts of variance 1/2.
CONVKIT_API Tensor randn(const Shape& shape, DType dtype = kFloat32, Generator* gen = nullptr);

}  // namespace convkit
