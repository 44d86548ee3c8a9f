"""Built-in example models (Flax nnx, random weights): what `jax2onnx-hlo demo` exports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["CNN", "EXAMPLES", "MLP", "ViT", "Example"]


class MLP(nnx.Module):
    """Dense -> BatchNorm -> relu -> Dropout, twice, then a Dense head."""

    def __init__(self, din: int, dhidden: int, dout: int, *, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(din, dhidden, rngs=rngs)
        self.bn1 = nnx.BatchNorm(dhidden, rngs=rngs)
        self.linear2 = nnx.Linear(dhidden, dhidden, rngs=rngs)
        self.bn2 = nnx.BatchNorm(dhidden, rngs=rngs)
        self.dropout = nnx.Dropout(0.2, rngs=rngs)
        self.head = nnx.Linear(dhidden, dout, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.dropout(nnx.relu(self.bn1(self.linear1(x))))
        x = self.dropout(nnx.relu(self.bn2(self.linear2(x))))
        return self.head(x)


class CNN(nnx.Module):
    """An MNIST-style CNN: conv/relu/avg_pool, conv/relu/max_pool, dense, log_softmax."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 16, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(16, 32, kernel_size=(3, 3), rngs=rngs)
        self.linear1 = nnx.Linear(32 * 7 * 7, 128, rngs=rngs)
        self.linear2 = nnx.Linear(128, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = nnx.avg_pool(nnx.relu(self.conv1(x)), window_shape=(2, 2), strides=(2, 2))
        x = nnx.max_pool(nnx.relu(self.conv2(x)), window_shape=(2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        return nnx.log_softmax(self.linear2(nnx.relu(self.linear1(x))))


class PatchEmbedding(nnx.Module):
    def __init__(self, patch: int, channels: int, dim: int, *, rngs: nnx.Rngs):
        self.conv = nnx.Conv(channels, dim, kernel_size=(patch, patch), strides=(patch, patch),
                             padding="VALID", rngs=rngs)

    def __call__(self, x):
        x = self.conv(x)
        return x.reshape(x.shape[0], -1, x.shape[-1])


class EncoderBlock(nnx.Module):
    def __init__(self, dim: int, heads: int, *, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.attention = nnx.MultiHeadAttention(heads, dim, decode=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.mlp_in = nnx.Linear(dim, 2 * dim, rngs=rngs)
        self.mlp_out = nnx.Linear(2 * dim, dim, rngs=rngs)
        self.dropout = nnx.Dropout(0.1, rngs=rngs)

    def __call__(self, x):
        x = x + self.dropout(self.attention(self.norm1(x)))
        return x + self.mlp_out(nnx.gelu(self.mlp_in(self.norm2(x))))


class ViT(nnx.Module):
    """A small ViT-style encoder: 4x4 patches of 16x16x3 images, a class token, two
    pre-norm attention blocks, a softmax head."""

    def __init__(self, *, rngs: nnx.Rngs, dim: int = 32, depth: int = 2, classes: int = 10):
        self.embed = PatchEmbedding(4, 3, dim, rngs=rngs)
        self.cls = nnx.Param(jax.random.normal(rngs.params(), (1, 1, dim)))
        self.position = nnx.Param(jax.random.normal(rngs.params(), (1, 17, dim)) * 0.02)
        self.blocks = nnx.List([EncoderBlock(dim, 4, rngs=rngs) for _ in range(depth)])
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.head = nnx.Linear(dim, classes, rngs=rngs)

    def __call__(self, x):
        x = self.embed(x)
        cls = jnp.broadcast_to(self.cls[...], (x.shape[0], 1, x.shape[-1]))
        x = jnp.concatenate([cls, x], axis=1) + self.position[...]
        for block in self.blocks:
            x = block(x)
        return nnx.softmax(self.head(self.norm(x[:, 0])))


@dataclass
class Example:
    name: str
    build: Callable[[], Any]  # returns the model (a callable) in inference mode
    inputs: list[tuple]  # input specs for to_onnx


def _inference(model: nnx.Module) -> nnx.Module:
    model.eval()  # BatchNorm uses running statistics, Dropout is off
    return model


EXAMPLES = [
    Example("mlp", lambda: _inference(MLP(30, 64, 10, rngs=nnx.Rngs(0))), [(8, 30)]),
    Example("cnn", lambda: _inference(CNN(rngs=nnx.Rngs(0))), [(4, 28, 28, 1)]),
]
