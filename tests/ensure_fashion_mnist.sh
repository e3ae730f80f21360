#!/bin/sh
# Best effort, never fails: install Debian's dataset-fashion-mnist (the official Fashion-MNIST IDX
# files in /usr/share/datasets/fashion-mnist/, which gankit reads in place) for the real-data tests
# of tests/test_fashion_mnist.py. Only as root with apt-get; without the files those tests skip and
# say why. Quiet and quick once installed.
dir=/usr/share/datasets/fashion-mnist
if [ -f $dir/train-images-idx3-ubyte.gz ] && [ -f $dir/train-labels-idx1-ubyte.gz ] \
    && [ -f $dir/t10k-images-idx3-ubyte.gz ] && [ -f $dir/t10k-labels-idx1-ubyte.gz ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "Fashion-MNIST not installed: its real-data tests will skip (apt-get install dataset-fashion-mnist as root)"
    exit 0
fi
echo "installing dataset-fashion-mnist from Debian's packages for the Fashion-MNIST tests..."
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
    || echo "could not install dataset-fashion-mnist: its real-data tests will skip"
exit 0
