#!/bin/bash
# GPUs on a fake GPU node: device nodes made here (with /dev/null's numbers) in a private
# tree, stub driver libraries with the real sonames (libcuda.so.1 -> libcuda.so.999.1, as a
# driver installs them), the driver's version file, a fake nvidia-smi; the fakegpu module
# of the test cocoon.yaml points at them (device_root, library_dirs). Checks which devices
# and libraries a container gets for which allocation, how the GPU variables are numbered
# inside, and what --dry-run shows.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
command -v gcc >/dev/null || fail "gcc is needed to build the stub driver libraries"

fake=$COCOON_TEST_DIR/fakegpu
cleanup() {
    rm -rf --one-file-system "$fake"
}
trap cleanup EXIT
cleanup
install -d -m 0755 "$fake/dev/dri" "$fake/lib" "$fake/bin" "$fake/src" "$fake/proc/driver/nvidia"
version_line='NVRM version: NVIDIA UNIX x86_64 Kernel Module  999.1  Sat Aug 19 01:15:15 UTC 2023'
printf '%s\n' "$version_line" > "$fake/proc/driver/nvidia/version"
for node in nvidiactl nvidia-uvm nvidia-uvm-tools nvidia-modeset nvidia0 nvidia1 nvidia2 \
            nvidia3 kfd dri/renderD128 dri/renderD129; do
    mknod -m 0666 "$fake/dev/$node" c 1 3
done
printf 'int cuInit(unsigned flags) { return (int)flags; }\n' > "$fake/src/cuda.c"
printf 'int nvmlInit(void) { return 0; }\n' > "$fake/src/nvml.c"
printf '#include <stdio.h>\nint main(void) { puts("fake nvidia-smi"); return 0; }\n' \
    > "$fake/src/smi.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$fake/lib/libcuda.so.999.1" "$fake/src/cuda.c"
ln -s libcuda.so.999.1 "$fake/lib/libcuda.so.1"
# libnvidia-ml needs libcuda: its DT_NEEDED dependency must come along.
gcc -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o "$fake/lib/libnvidia-ml.so.999.1" \
    "$fake/src/nvml.c" "$fake/lib/libcuda.so.1"
ln -s libnvidia-ml.so.999.1 "$fake/lib/libnvidia-ml.so.1"
gcc -o "$fake/bin/nvidia-smi" "$fake/src/smi.c"
chmod -R a+rX "$fake"

show='ls /dev | grep -E "^(nvidia|kfd|dri)" | tr "\n" " "; echo; ls /.cocoon/lib 2>/dev/null | tr "\n" " "; echo; echo "ld=$LD_LIBRARY_PATH caps=$NVIDIA_DRIVER_CAPABILITIES"'
gpu_env='echo "cuda=$CUDA_VISIBLE_DEVICES rocr=$ROCR_VISIBLE_DEVICES hip=$HIP_VISIBLE_DEVICES"'

# CUDA_VISIBLE_DEVICES=1: the control devices and nvidia1 only.
wait_idle
run_user env CUDA_VISIBLE_DEVICES=1 srun --container="$BUSYBOX_SQSH" \
    sh -c "$IN_IMAGE; $show; nvidia-smi; test -c /dev/nvidia1 && echo char; echo x > /dev/nvidia1 && echo written"
assert_succeeded "srun with CUDA_VISIBLE_DEVICES=1"
devices=$(sed -n 1p <<<"$OUT")
assert_eq "nvidia-modeset nvidia-uvm nvidia-uvm-tools nvidia1 nvidiactl " "$devices" "devices for GPU 1"
assert_eq "libcuda.so.1 libnvidia-ml.so.1 " "$(sed -n 2p <<<"$OUT")" "libraries in /.cocoon/lib"
assert_contains "$OUT" "ld=/.cocoon/lib caps=compute,utility" "environment"
assert_contains "$OUT" "fake nvidia-smi" "nvidia-smi inside"
assert_contains "$OUT" "char" "/dev/nvidia1 is a character device"
assert_contains "$OUT" "written" "/dev/nvidia1 is usable"

# The container sees only the job's devices, so the job's GPU indices are renumbered from 0
# in device order; UUIDs stay.
wait_idle
run_user env SLURM_JOB_GPUS=1,3 CUDA_VISIBLE_DEVICES=3,GPU-8a1c2f00,1 srun --container="$BUSYBOX_SQSH" \
    sh -c "$IN_IMAGE; $gpu_env"
assert_succeeded "srun with SLURM_JOB_GPUS=1,3"
assert_eq "cuda=1,GPU-8a1c2f00,0 rocr= hip=" "$OUT" "CUDA_VISIBLE_DEVICES for GPUs 1 and 3"

# Slurm's allocation wins over CUDA_VISIBLE_DEVICES.
wait_idle
run_user env SLURM_JOB_GPUS=0,2 CUDA_VISIBLE_DEVICES=1 srun --container="$BUSYBOX_SQSH" \
    sh -c "$IN_IMAGE; $show"
assert_succeeded "srun with SLURM_JOB_GPUS=0,2"
assert_eq "nvidia-modeset nvidia-uvm nvidia-uvm-tools nvidia0 nvidia2 nvidiactl " \
    "$(sed -n 1p <<<"$OUT")" "devices for GPUs 0 and 2"

# No GPUs: the module does not apply.
wait_idle
run_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; $show"
assert_succeeded "srun without GPUs"
assert_eq "" "$(sed -n 1,2p <<<"$OUT" | tr -d '\n ')" "devices and libraries without GPUs"
assert_not_contains "$OUT" "/.cocoon/lib" "environment without GPUs"

# GPUs, but the user leaves the module out.
wait_idle
run_user env CUDA_VISIBLE_DEVICES=0 srun --container="$BUSYBOX_SQSH" \
    --no-container-modules=fakegpu sh -c "$IN_IMAGE; $show"
assert_succeeded "srun --no-container-modules=fakegpu"
assert_eq "" "$(sed -n 1,2p <<<"$OUT" | tr -d '\n ')" "devices and libraries, module refused"
assert_not_contains "$OUT" "/.cocoon/lib" "environment, module refused"

# AMD: /dev/kfd and the job's render node.
wait_idle
run_user env ROCR_VISIBLE_DEVICES=1 HIP_VISIBLE_DEVICES=1 srun --container="$BUSYBOX_SQSH" \
    --container-modules=fakeamd --no-container-modules=fakegpu sh -c "$IN_IMAGE; ls /dev/dri; ls /dev | grep kfd; $gpu_env"
assert_succeeded "srun with the fakeamd module"
assert_eq "renderD129
kfd
cuda= rocr=0 hip=0" "$OUT" "AMD devices for GPU 1, numbered 0 inside"

# cocoon run --dry-run: everything the container would receive, and from which module.
COCOON_YAML=$(_plugin_config)
run_user env CUDA_VISIBLE_DEVICES=3 "$COCOON" run -c "$COCOON_YAML" --dry-run "$BUSYBOX_SQSH"
assert_succeeded "cocoon run --dry-run"
assert_contains "$OUT" "bind      /dev/nvidia3 <- $fake/dev/nvidia3 [dev] (module fakegpu)" "dry run"
assert_contains "$OUT" "bind      /.cocoon/lib/libnvidia-ml.so.1 <- $fake/lib/libnvidia-ml.so.1 [ro] (module fakegpu)" "dry run"
assert_contains "$OUT" "file      /.cocoon/bin/nvidia-smi" "dry run"
assert_contains "$OUT" "env       LD_LIBRARY_PATH prepend /.cocoon/lib (module fakegpu)" "dry run"
assert_not_contains "$OUT" "/dev/nvidia0" "dry run"

# driver_version: libraries of another driver release than the loaded one fail the step,
# with what to do.
printf 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  998.2  Sat Aug 19 01:15:15 UTC 2023\n' \
    > "$fake/proc/driver/nvidia/version"
wait_idle
run_user env CUDA_VISIBLE_DEVICES=0 srun --container="$BUSYBOX_SQSH" sh -c "echo ran"
assert_failed "srun with libraries of another driver version"
assert_not_contains "$OUT" ran "stdout with libraries of another driver version"
assert_contains "$ERR" "module 'fakegpu' cannot be applied on this node: library libcuda.so.1 is $fake/lib/libcuda.so.999.1 (version 999.1) but the loaded driver is version 998.2 (from $fake/proc/driver/nvidia/version): install the driver's libraries of version 998.2 or fix library_dirs" "stderr"
printf '%s\n' "$version_line" > "$fake/proc/driver/nvidia/version"

assert_no_leftovers
assert_node_healthy
pass
