// rosterctl: the operators' command-line client of the rostersync services.
//   rosterctl --tenant acme runs trigger int-123 --wait
// See `rosterctl --help`; everything but argv and the process environment lives in commands.cc.
#include <iostream>
#include <string>
#include <vector>

#include "tools/rosterctl/commands.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  const int code =
      rostersync::rosterctl::Main(args, rostersync::rosterctl::ProcessEnv(), std::cout, std::cerr);
  std::cout.flush();
  return code;
}
