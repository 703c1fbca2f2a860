/*
 * krtgate-bench: the program behind `krtgate bench` (translation at cluster scale). Everything is
 * in the library krtgate_benchscale: see cli.c for the options and docs/bench.md for the figures.
 */
#include "scale.h"

int main(int argc, char **argv)
{
    return bs_cli_main(argc, argv);
}
