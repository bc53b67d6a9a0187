// The `convkit` command-line tool. Exit status: 0 on success, 2 on bad arguments or files.
#include <CLI/CLI.hpp>
#include <iostream>

#include "convkit/convkit.h"
#include "tools/convkit/conv_command.h"

int main(int argc, char** argv) {
  CLI::App app{"convkit: convolution layers with PyTorch's semantics"};
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  convkit conv --input x.npy --weight w.npy --output y.npy\n"
      "  convkit conv --input x.npy --weights model.safetensors --key layer1 --stride 2 --padding same --output y.npy\n"
      "Run 'convkit conv --help' for every option.");

  convkit::tool::ConvCommand conv;
  CLI::App* sub = app.add_subcommand("conv", "run one convolution on .npy / safetensors data");
  convkit::tool::add_conv_options(*sub, conv);
  sub->footer(
      "The spatial rank comes from the weight (rank - 2, or rank - 3 with --weight-layout megengine);\n"
      "the input is unbatched when its rank is one less than the weight's. Output dtype = input dtype.\n"
      "Examples:\n"
      "  convkit conv --input x.npy --weight w.npy --bias b.npy --stride 2 --output y.npy\n"
      "  convkit conv --input x.npy --weight w.npy --padding 1:2,0:1 --padding-mode reflect --output y.npy\n"
      "  convkit conv --input audio.npy --weight w.npy --padding causal --dilation 4 --output y.npy\n"
      "  convkit conv --input x.npy --weight me_w.npy --weight-layout megengine --groups 4 --output y.npy");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // prints help, status 0
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message
    return 2;
  }
  try {
    if (sub->parsed()) convkit::tool::run_conv(conv);
  } catch (const convkit::Error& e) {
    std::cerr << "convkit: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "convkit: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
