// The `convkit` command-line tool. Exit status: 0 on success, 2 on bad arguments or files,
// 1 when `convkit bench` finds a wrong output. Every error is one stderr line starting with
// "convkit: error:"; an unknown option gets the closest known one suggested.
#include <CLI/CLI.hpp>
#include <iostream>

#include "convkit/convkit.h"
#include "tools/convkit/bench.h"
#include "tools/convkit/cli_errors.h"
#include "tools/convkit/conv_command.h"

int main(int argc, char** argv) {
  CLI::App app{"convkit: convolution layers with PyTorch's semantics"};
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  convkit conv --input x.npy --weight w.npy --output y.npy\n"
      "  convkit conv --input x.npy --weights model.safetensors --key layer1 --stride 2 --padding same --output y.npy\n"
      "  convkit conv-transpose --input z.npy --weight w.npy --stride 2 --padding 1 --output-padding 1 --output y.npy\n"
      "  convkit bench --filter resnet50 --threads 1,2 --csv bench.csv --plot bench.png\n"
      "Run 'convkit conv --help', 'convkit conv-transpose --help' or 'convkit bench --help' for every option.");

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
      "  convkit conv --input x.npy --weight me_w.npy --weight-layout megengine --groups 4 --output y.npy\n"
      "  convkit conv --input x.npy --weight w.npy --padding 1 --grad-output gy.npy --grad-input gx.npy --grad-weight gw.npy");

  convkit::tool::ConvCommand conv_t;
  CLI::App* tsub = app.add_subcommand("conv-transpose", "run one transposed convolution on .npy / safetensors data");
  convkit::tool::add_conv_options(*tsub, conv_t, /*transposed=*/true);
  tsub->footer(
      "The weight is (C_in, C_out/groups, *K); each output dim is (S - 1) * stride - lo - hi +\n"
      "dilation * (K - 1) + output_padding + 1, where --padding P gives lo = hi = P and lo:hi pairs crop the\n"
      "full output as ONNX ConvTranspose's pads do. --output-size picks the output padding instead.\n"
      "With --grad-output, writes any of --grad-input/--grad-weight/--grad-bias (--output is then optional).\n"
      "Examples:\n"
      "  convkit conv-transpose --input z.npy --weight w.npy --stride 2 --padding 1 --output-padding 1 --output y.npy\n"
      "  convkit conv-transpose --input z.npy --weight w.npy --stride 2 --padding 0:1 --output-size 16,16 --output y.npy\n"
      "  convkit conv-transpose --input z.npy --weight w.npy --stride 8 --grad-output gy.npy --grad-weight gw.npy");

  convkit::tool::BenchCommand bench;
  CLI::App* bench_sub = app.add_subcommand(
      "bench", "time convkit's forward and gradients on layer shapes (vs oneDNN if built in)");
  convkit::tool::add_bench_options(*bench_sub, bench);
  bench_sub->footer(
      "shapes.csv: name,N,C_in,C_out,spatial,kernel,stride,padding,dilation,groups with AxB (2-d) or A (1-d),\n"
      "e.g. resnet50_conv1,1,3,64,224x224,7x7,2x2,3x3,1x1,1. Every output is checked against the reference\n"
      "(or oneDNN / sampled points for big layers) before timing; a mismatch makes the exit status 1.\n"
      "--direction bwd_data times the input gradient, bwd_weights the weight + bias gradient (FLOPs counted as\n"
      "the forward's); with --direction the built-in ConvTranspose layers dcgan_g2_deconv, unet_up2_deconv and\n"
      "hifigan_up1_deconv run too (vs oneDNN's deconvolution). --layout nhwc runs the 2-d shapes on channels-last\n"
      "data (vs oneDNN on nhwc). The CSV has one row per shape, direction, dtype, layout, thread count and\n"
      "implementation. See docs/bench.md.\n"
      "Examples:\n"
      "  convkit bench\n"
      "  convkit bench --filter resnet50 --threads 1 --min-time 0.1\n"
      "  convkit bench --direction fwd,bwd_data,bwd_weights --filter deconv --threads 1\n"
      "  convkit bench --layout nchw,nhwc --filter resnet50\n"
      "  convkit bench --shapes my_shapes.csv --csv out.csv --plot out.png");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help: prints the help, status 0
  } catch (const CLI::ParseError& e) {
    std::cerr << "convkit: error: " << convkit::tool::parse_error_message(app, e) << "\n";
    return 2;
  }
  try {
    if (sub->parsed()) convkit::tool::run_conv(conv);
    if (tsub->parsed()) convkit::tool::run_conv(conv_t);
    if (bench_sub->parsed()) return convkit::tool::run_bench(bench);
  } catch (const convkit::Error& e) {
    std::cerr << "convkit: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "convkit: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
