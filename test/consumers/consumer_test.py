#!/usr/bin/python3
"""The huddle library consumed as a user would, by the outside project in project/ (its
consumer.cpp embeds a Server and a ChatManager member of its own, and exits 0 when they
work). Two ways, as README's "As a library" promises them:

  installed:  `meson install` of the already built huddle into a staging directory (no
              second build), then, with PKG_CONFIG_PATH pointing at the staged huddle.pc
              and nothing else: a plain compiler command with `pkg-config --cflags --libs
              huddle`, and the meson project, whose dependency('huddle') must find it;
  subproject: the meson project with subprojects/huddle linking to this source tree,
              dependency('huddle') falling back to it (forced, so an installed huddle
              cannot stand in), building huddle as the library alone.
Each builds and runs the program, and prints how long each step took.

usage: consumer_test.py installed BUILD_ROOT WORK_DIR CXX...
       consumer_test.py subproject SOURCE_ROOT WORK_DIR CXX...
WORK_DIR is emptied first, removed after a pass and kept after a failure (for a look). A
fixed path, so that ccache finds the objects of the last run (CCACHE_NOHASHDIR: the
compiler's working directory, which only names the debug information's directory, does not
count either).
"""
import glob
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.join(HERE, "project")
TIMEOUT = 1500  # a cold subproject build takes minutes on a busy 2-core machine


def step(what, command, env=None):
    """Runs `command`, prints `what` with its duration; on failure its output and exit 1."""
    start = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True,
                            timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    took = time.monotonic() - start
    if result.returncode != 0:
        print(f"FAIL {what} ({took:.1f} s): exit {result.returncode}\n$ {' '.join(command)}\n"
              f"{result.stdout}{result.stderr}")
        sys.exit(1)
    print(f"ok   {what} ({took:.1f} s)")
    return result.stdout


def run_consumer(what, exe):
    output = step(what, [exe])
    # The program's own checks ("ok ..."), without the server's log lines.
    print("".join(f"       {line}\n" for line in output.splitlines()
                  if line.startswith(("ok", "FAIL", "consumer"))), end="")


def base_env(cxx):
    env = dict(os.environ, CXX=" ".join(cxx), CCACHE_NOHASHDIR="1")
    env.pop("PKG_CONFIG_PATH", None)
    env.pop("PKG_CONFIG_LIBDIR", None)
    return env


def in_stage(directory, stage, name):
    """Whether `directory` is in the staging directory and holds `name`."""
    return (os.path.isfile(os.path.join(directory, name)) and
            os.path.realpath(directory).startswith(os.path.realpath(stage) + os.sep))


def installed(build_root, work, cxx):
    stage = os.path.join(work, "stage")
    step("meson install --no-rebuild --destdir (the built huddle, staged)",
         ["meson", "install", "-C", build_root, "--no-rebuild", "--destdir", stage, "--quiet"])
    pc_files = glob.glob(os.path.join(stage, "**", "pkgconfig", "huddle.pc"), recursive=True)
    if len(pc_files) != 1:
        sys.exit(f"FAIL one huddle.pc staged, found {pc_files}")
    env = base_env(cxx)
    env["PKG_CONFIG_PATH"] = os.path.dirname(pc_files[0])

    cflags = step("pkg-config --cflags huddle", ["pkg-config", "--cflags", "huddle"],
                  env=env).split()
    libs = step("pkg-config --libs huddle", ["pkg-config", "--libs", "huddle"], env=env).split()
    # A .pc naming the install prefix itself would send the compiler to /usr/local, where a
    # staged (or moved) huddle is not: its paths must be relative to the .pc file.
    if not (any(in_stage(f[2:], stage, os.path.join("huddle", "server.hpp"))
                for f in cflags if f.startswith("-I")) and
            any(in_stage(f[2:], stage, "libhuddle.a") for f in libs if f.startswith("-L"))):
        sys.exit(f"FAIL huddle.pc's -I and -L name the staged headers and library: {cflags} "
                 f"{libs}\n(a build directory set up before huddle.pc became relocatable needs "
                 "`meson configure BUILD -Dpkgconfig.relocatable=true`)")
    print("ok   huddle.pc's -I and -L lead into the staging directory")

    # Compiled and linked apart, as a makefile does (and so ccache can keep the object).
    obj = os.path.join(work, "consumer.o")
    exe = os.path.join(work, "consumer-pkg-config")
    step("c++ -c consumer.cpp $(pkg-config --cflags huddle)",
         [*cxx, "-std=c++20", "-Wall", "-Wextra", "-Werror", "-c",
          os.path.join(PROJECT, "consumer.cpp"), "-o", obj, *cflags], env=env)
    step("c++ consumer.o $(pkg-config --libs huddle)", [*cxx, obj, "-o", exe, *libs], env=env)
    run_consumer("the pkg-config build runs", exe)

    build = os.path.join(work, "meson-build")
    step("meson setup: dependency('huddle') finds the staged huddle (no fallback)",
         ["meson", "setup", build, PROJECT, "--wrap-mode=nofallback"], env=env)
    step("meson compile", ["meson", "compile", "-C", build], env=env)
    run_consumer("the meson build runs", os.path.join(build, "consumer"))


def subproject(source_root, work, cxx):
    project = os.path.join(work, "project")
    os.makedirs(os.path.join(project, "subprojects"))
    for name in ("meson.build", "consumer.cpp"):
        shutil.copy(os.path.join(PROJECT, name), project)
    os.symlink(source_root, os.path.join(project, "subprojects", "huddle"))
    env = base_env(cxx)
    build = os.path.join(work, "build")
    output = step("meson setup: dependency('huddle') falls back to subprojects/huddle",
                  ["meson", "setup", build, project, "--force-fallback-for=huddle"], env=env)
    if "Subproject huddle finished" not in output:
        sys.exit(f"FAIL the huddle subproject was not configured:\n{output}")
    # The consumer and what it needs (libhuddle), not the subproject's command-line tools.
    step("meson compile consumer (huddle's library from source)",
         ["meson", "compile", "-C", build, "consumer"], env=env)
    run_consumer("the subproject build runs", os.path.join(build, "consumer"))


def main():
    mode, root, work, *cxx = sys.argv[1:]
    if mode not in ("installed", "subproject") or not cxx:
        sys.exit(__doc__)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    start = time.monotonic()
    (installed if mode == "installed" else subproject)(os.path.abspath(root), work, cxx)
    print(f"all {mode} consumer checks passed ({time.monotonic() - start:.1f} s)")
    # Hundreds of MB staged, and subprojects/huddle links back to the tree holding WORK_DIR.
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
