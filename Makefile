# Walkout: the two commands of the README, and the ones below them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ORT_VERSION := 1.31.1
export ORT_DYLIB_PATH := $(CURDIR)/.cache/ort/onnxruntime-$(ORT_VERSION)/onnxruntime/capi/libonnxruntime.so.$(ORT_VERSION)
SHARED := $(CURDIR)/../shared
CARGO_TEST_FLAGS ?=

.PHONY: help setup demo test lint fmt unit bench

help:
	@echo "make demo   the whole store, live, with its dashboard (installs what it needs the first time)"
	@echo "make test   run every check and test (installs what it needs the first time)"
	@echo "make setup  install system packages and the ONNX Runtime library only"
	@echo "make lint   cargo fmt --check and clippy"
	@echo "make bench  run the benchmarks"

setup:
	@scripts/setup.sh

demo: setup
	cargo build --release --bin walkout
	./target/release/walkout demo $(DEMO_FLAGS)

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

test: setup lint
	scripts/with-postgres.sh cargo test --workspace $(CARGO_TEST_FLAGS)

fmt:
	cargo fmt --all

bench: setup
	cargo bench --workspace
