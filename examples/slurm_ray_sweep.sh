#!/usr/bin/env bash
# A lotteryfast sweep on a SLURM allocation through Ray: Ray's head on the first node, a worker on
# each of the others, then the sweep (or any `python -m lotteryfast.run ... --backend ray`) on the
# head with --address auto. Run directories must live on a filesystem all nodes share (here
# $SWEEP_DIR, e.g. on /scratch or NFS); the driver checks that before the first job.
#
#   sbatch examples/slurm_ray_sweep.sh
#
#SBATCH --job-name=lotteryfast-sweep
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=32
#SBATCH --gpus-per-task=4
#SBATCH --time=24:00:00
set -euo pipefail

VENV=${VENV:-$HOME/lotteryfast/.venv}              # tools/install.sh test (or pip install 'lotteryfast[ray]')
SWEEP_DIR=${SWEEP_DIR:-$HOME/sweeps/fig3-classic}  # shared by every node
PORT=${RAY_PORT:-6379}
source "$VENV/bin/activate"

nodes=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))
head=${nodes[0]}
head_ip=$(srun --nodes=1 --ntasks=1 -w "$head" hostname --ip-address | awk '{print $1}')

srun --nodes=1 --ntasks=1 -w "$head" \
  ray start --head --node-ip-address="$head_ip" --port="$PORT" \
  --num-cpus="$SLURM_CPUS_PER_TASK" --num-gpus="${SLURM_GPUS_PER_TASK:-0}" --block &
sleep 15
for node in "${nodes[@]:1}"; do
  srun --nodes=1 --ntasks=1 -w "$node" \
    ray start --address="$head_ip:$PORT" \
    --num-cpus="$SLURM_CPUS_PER_TASK" --num-gpus="${SLURM_GPUS_PER_TASK:-0}" --block &
done
sleep 15

# The paper's Figure 3 grid: iterative / one-shot x late resetting / reset to init, 3 seeds, on
# the three classic-control games; a (seed, level)'s tickets per job, one CPU each.
export RAY_ADDRESS="$head_ip:$PORT"
python -m lotteryfast.sweep cartpole,acrobot,lunarlander --preset paper \
  --vary one_shot=false,true --vary reset=epoch:1,init \
  --backend ray --address auto --cpus-per-job 1 --out "$SWEEP_DIR"

# Model tasks share GPUs: four jobs per GPU.
# python -m lotteryfast.run lstm --preset paper --device cuda --backend ray --address auto \
#   --gpus-per-job 0.25 --cpus-per-job 4 --out "$SWEEP_DIR/lstm"

ray stop || true
