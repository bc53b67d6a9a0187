#include "conv/select.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace convkit::internal {

const char* name_of(Algorithm a) {
  switch (a) {
    case Algorithm::Reference: return "reference";
  }
  return "?";
}

AlgorithmChoice select_algorithm(const ConvParams& p) {
  (void)p;  // fast paths arrive with the fp32 engine; until then every call is the oracle
  return {Algorithm::Reference, "reference loops: the only implementation so far"};
}

void log_choice(const ConvParams& p, const AlgorithmChoice& c) {
  static const bool verbose = [] {
    const char* v = std::getenv("CONVKIT_VERBOSE");
    return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
  }();
  if (!verbose) return;
  std::fprintf(stderr, "convkit: %s %s N=%lld C_in=%lld C_out=%lld groups=%lld -> %s (%s)\n",
               op_name(p.dim).c_str(), dtype_name(p.dtype), static_cast<long long>(p.N),
               static_cast<long long>(p.C_in), static_cast<long long>(p.C_out),
               static_cast<long long>(p.groups), name_of(c.algorithm), c.reason);
}

}  // namespace convkit::internal
