#!/bin/bash
# The screening runs of docs/BENCHMARKS.md §17 (proof of use: which keyed families do victims learn
# for their key?), as they were run, one torch thread each. Data: PneumoniaMNIST npz ($PNEUMONIAMNIST),
# DRIVE converted by benchmarks/drive_data.py ($DRIVE). Outputs in $SCREEN_OUT (default /tmp/vcls, /tmp/vseg).
set -e
cd "$(dirname "$0")"
export PYTHONPATH=../../plugin OMP_NUM_THREADS=1
P=${PYTHON:-python}
KA=$(printf 'a%.0s' {1..64}); KB=$(printf 'b%.0s' {1..64}); KC=$(printf 'c%.0s' {1..64})
# PneumoniaMNIST, ResNet-18, 20 epochs, hflips, 20 % of the release held out (NAME KEY FAMILY EPS SEED)
SCREEN_OUT=/tmp/vcls; mkdir -p $SCREEN_OUT; export SCREEN_OUT
$P cls_probe.py clean_s0 none field 0 0
$P cls_probe.py fieldA_s0 $KA field 2 0;  $P cls_probe.py fieldB_s0 $KB field 2 0; $P cls_probe.py fieldA_s1 $KA field 2 1
$P cls_probe.py sfA_s0 $KA stripes+field 1 0; $P cls_probe.py sfB_s0 $KB stripes+field 1 0; $P cls_probe.py sfA_s1 $KA stripes+field 1 1
$P cls_probe.py tsA_s0 $KA two-sided 2 0
$P cls_probe.py plA_s0 $KA plaid 3 0; $P cls_probe.py plB_s0 $KB plaid 3 0
$P cls_probe.py spA_s0 $KA stripes+plaid 2 0; $P cls_probe.py p0A_s0 $KA plaid-on-0 3 0
$P cls_probe.py st_s0 $KA stripes+field 0 0
$P cls_probe.py pl4A_s0 $KA plaid 4 0; $P cls_probe.py pl4A_s1 $KA plaid 4 1; $P cls_probe.py pl4C_s0 $KC plaid 4 0
# scores (white-box gradient statistic, 999 decoys; forward statistic, 199 decoys)
$P cls_score.py fieldA_s0; $P cls_score.py sfA_s0; $P cls_score.py sfB_s0; $P cls_score.py plA_s0; $P cls_score.py plB_s0
$P cls_score.py spA_s0; $P cls_score_class0.py p0A_s0; $P cls_score.py pl4A_s0; $P cls_forward_plaid.py pl4A_s0
$P cls_forward_keys.py pl4A_s0 pl4A_s1 pl4C_s0 plA_s0 plB_s0 clean_s0
# DRIVE, UNet, 1,500 steps of 64x64 patches (NAME KEY FAMILY AMPLITUDE SEED)
SCREEN_OUT=/tmp/vseg; mkdir -p $SCREEN_OUT; export SCREEN_OUT
$P seg_probe.py clean_s0 none tile4 0 0
$P seg_probe.py t4A_s0 $KA tile4 3 0; $P seg_probe.py t4B_s0 $KB tile4 3 0; $P seg_probe.py ct4A_s0 $KA checker+tile4 1 0
$P seg_probe.py plA_s0 $KA plaid 4 0; $P seg_probe.py dtA_s0 $KA detuned 5 0
$P seg_forward.py t4A; $P seg_forward.py ct4A; $P seg_forward.py t4B
$P seg_score.py t4A tile4; $P seg_score.py plA plaid; $P seg_score.py dtA detuned
# keyed membership (no split learned): python seg_membership.py d0_unet_s0 d0_unet_s1 clean_unet_s0 d1_unet_s0
# 2026-12-07: a keyed sequence on a Nyquist carrier (x), amplitude 3 (as checker3)
SCREEN_OUT=/tmp/vseg; export SCREEN_OUT
$P seg_probe.py nqA_s0 $KA nyqseq 3 0; $P seg_probe.py nqB_s0 $KB nyqseq 3 0
$P seg_score.py nqA nyqseq; $P seg_score.py nqB nyqseq
