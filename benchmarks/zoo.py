"""The model zoo: random-weight models built in-process, full size or tiny (for smoke runs).

Every entry builds a callable in inference mode and says how to make an input batch; the
nnx models cover the shapes the issue names (MLP, MNIST CNN, ResNet-18, ViT-B/16,
GPT-2 small, BERT base, an RL policy); one model each comes from Flax linen, Equinox and
Haiku (when it is installed).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jax2onnx_hlo.examples import CNN

__all__ = ["ZOO", "ZooModel", "build"]


@dataclass(frozen=True)
class ZooModel:
    name: str
    library: str
    build: Callable[[bool], tuple[Callable, Callable[[int], list[np.ndarray]]]]
    """build(tiny) -> (model, batch -> inputs)"""


def _floats(*shape: int) -> Callable[[int], list[np.ndarray]]:
    def inputs(batch: int) -> list[np.ndarray]:
        rng = np.random.default_rng(batch)
        return [rng.standard_normal((batch, *shape)).astype(np.float32)]
    return inputs


def _tokens(length: int, vocab: int) -> Callable[[int], list[np.ndarray]]:
    def inputs(batch: int) -> list[np.ndarray]:
        rng = np.random.default_rng(batch)
        return [rng.integers(0, vocab, (batch, length)).astype(np.int32)]
    return inputs


def _eval(model: nnx.Module) -> nnx.Module:
    model.eval()
    return model


# --- Flax nnx -------------------------------------------------------------------------

class MLP(nnx.Module):
    def __init__(self, sizes: list[int], *, rngs: nnx.Rngs):
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes, sizes[1:])])

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nnx.relu(layer(x))
        return self.layers[-1](x)


class BasicBlock(nnx.Module):
    def __init__(self, cin: int, cout: int, stride: int, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(cin, cout, (3, 3), strides=stride, use_bias=False, rngs=rngs)
        self.bn1 = nnx.BatchNorm(cout, rngs=rngs)
        self.conv2 = nnx.Conv(cout, cout, (3, 3), use_bias=False, rngs=rngs)
        self.bn2 = nnx.BatchNorm(cout, rngs=rngs)
        self.shortcut = (nnx.Conv(cin, cout, (1, 1), strides=stride, use_bias=False, rngs=rngs)
                         if stride != 1 or cin != cout else None)

    def __call__(self, x):
        y = nnx.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return nnx.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet18(nnx.Module):
    def __init__(self, width: int, classes: int, *, rngs: nnx.Rngs):
        self.stem = nnx.Conv(3, width, (7, 7), strides=2, use_bias=False, rngs=rngs)
        self.bn = nnx.BatchNorm(width, rngs=rngs)
        blocks, cin = [], width
        for stage, cout in enumerate([width, 2 * width, 4 * width, 8 * width]):
            for i in range(2):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(cin, cout, stride, rngs=rngs))
                cin = cout
        self.blocks = nnx.List(blocks)
        self.head = nnx.Linear(cin, classes, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.bn(self.stem(x)))
        x = nnx.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
        for block in self.blocks:
            x = block(x)
        return self.head(x.mean(axis=(1, 2)))


class TransformerBlock(nnx.Module):
    """Pre-norm (ViT, GPT-2) or post-norm (BERT) encoder/decoder block."""

    def __init__(self, dim: int, heads: int, *, pre_norm: bool, exact_gelu: bool,
                 rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.attention = nnx.MultiHeadAttention(heads, dim, decode=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.mlp_in = nnx.Linear(dim, 4 * dim, rngs=rngs)
        self.mlp_out = nnx.Linear(4 * dim, dim, rngs=rngs)
        self.pre_norm, self.exact_gelu = pre_norm, exact_gelu

    def _mlp(self, x):
        return self.mlp_out(jax.nn.gelu(self.mlp_in(x), approximate=not self.exact_gelu))

    def __call__(self, x, mask=None):
        if self.pre_norm:
            x = x + self.attention(self.norm1(x), mask=mask)
            return x + self._mlp(self.norm2(x))
        x = self.norm1(x + self.attention(x, mask=mask))
        return self.norm2(x + self._mlp(x))


class ViT(nnx.Module):
    def __init__(self, image: int, patch: int, dim: int, depth: int, heads: int,
                 classes: int, *, rngs: nnx.Rngs):
        self.embed = nnx.Conv(3, dim, (patch, patch), strides=patch, padding="VALID",
                              rngs=rngs)
        tokens = (image // patch) ** 2 + 1
        self.cls = nnx.Param(jax.random.normal(rngs.params(), (1, 1, dim)) * 0.02)
        self.position = nnx.Param(jax.random.normal(rngs.params(), (1, tokens, dim)) * 0.02)
        self.blocks = nnx.List([TransformerBlock(dim, heads, pre_norm=True, exact_gelu=True,
                                                 rngs=rngs) for _ in range(depth)])
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.head = nnx.Linear(dim, classes, rngs=rngs)

    def __call__(self, x):
        x = self.embed(x)
        x = x.reshape(x.shape[0], -1, x.shape[-1])
        cls = jnp.broadcast_to(self.cls[...], (x.shape[0], 1, x.shape[-1]))
        x = jnp.concatenate([cls, x], axis=1) + self.position[...]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x[:, 0]))


class TextTransformer(nnx.Module):
    """GPT-2-shaped decoder (causal, tanh gelu, tied head) or BERT-shaped encoder."""

    def __init__(self, vocab: int, length: int, dim: int, depth: int, heads: int, *,
                 causal: bool, rngs: nnx.Rngs):
        self.tokens = nnx.Embed(vocab, dim, rngs=rngs)
        self.position = nnx.Embed(length, dim, rngs=rngs)
        self.blocks = nnx.List([TransformerBlock(dim, heads, pre_norm=causal,
                                                 exact_gelu=not causal, rngs=rngs)
                                for _ in range(depth)])
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.causal = causal

    def __call__(self, ids):
        x = self.tokens(ids) + self.position(jnp.arange(ids.shape[1]))[None]
        mask = nnx.make_causal_mask(ids) if self.causal else None
        for block in self.blocks:
            x = block(x, mask=mask)
        x = self.norm(x)
        return self.tokens.attend(x) if self.causal else x


class Policy(nnx.Module):
    """A PPO-style Gaussian policy: tanh MLP torso, action mean and a value head."""

    def __init__(self, obs: int, actions: int, hidden: int, *, rngs: nnx.Rngs):
        self.torso = nnx.List([nnx.Linear(obs, hidden, rngs=rngs),
                               nnx.Linear(hidden, hidden, rngs=rngs)])
        self.mean = nnx.Linear(hidden, actions, rngs=rngs)
        self.value = nnx.Linear(hidden, 1, rngs=rngs)

    def __call__(self, x):
        for layer in self.torso:
            x = jnp.tanh(layer(x))
        return jnp.tanh(self.mean(x)), self.value(x)[:, 0]


def _nnx_models() -> list[ZooModel]:
    def mlp(tiny):
        sizes = [32, 64, 10] if tiny else [784, 512, 512, 10]
        return MLP(sizes, rngs=nnx.Rngs(0)), _floats(sizes[0])

    def cnn(tiny):
        return _eval(CNN(rngs=nnx.Rngs(0))), _floats(28, 28, 1)

    def resnet18(tiny):
        size = 32 if tiny else 224
        return _eval(ResNet18(8 if tiny else 64, 10 if tiny else 1000, rngs=nnx.Rngs(0))), \
            _floats(size, size, 3)

    def vit(tiny):
        if tiny:
            return _eval(ViT(32, 8, 32, 2, 4, 10, rngs=nnx.Rngs(0))), _floats(32, 32, 3)
        return _eval(ViT(224, 16, 768, 12, 12, 1000, rngs=nnx.Rngs(0))), _floats(224, 224, 3)

    def gpt2(tiny):
        vocab, length, dim, depth, heads = (500, 16, 32, 2, 4) if tiny else \
            (50257, 128, 768, 12, 12)
        return _eval(TextTransformer(vocab, length, dim, depth, heads, causal=True,
                                     rngs=nnx.Rngs(0))), _tokens(length, vocab)

    def bert(tiny):
        vocab, length, dim, depth, heads = (500, 16, 32, 2, 4) if tiny else \
            (30522, 128, 768, 12, 12)
        return _eval(TextTransformer(vocab, length, dim, depth, heads, causal=False,
                                     rngs=nnx.Rngs(0))), _tokens(length, vocab)

    def policy(tiny):
        return Policy(17, 6, 16 if tiny else 64, rngs=nnx.Rngs(0)), _floats(17)

    return [ZooModel("mlp", "nnx", mlp), ZooModel("cnn", "nnx", cnn),
            ZooModel("resnet18", "nnx", resnet18), ZooModel("vit_b16", "nnx", vit),
            ZooModel("gpt2_small", "nnx", gpt2), ZooModel("bert_base", "nnx", bert),
            ZooModel("rl_policy", "nnx", policy)]


# --- other libraries ------------------------------------------------------------------

def _linen_cnn(tiny: bool):
    import flax.linen as nn

    class LinenCNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            for features in (16, 32) if tiny else (32, 64):
                x = nn.relu(nn.Conv(features, (3, 3))(x))
                x = nn.avg_pool(x, (2, 2), strides=(2, 2))
            x = nn.LayerNorm()(x.reshape(x.shape[0], -1))
            return nn.log_softmax(nn.Dense(10)(x))

    module = LinenCNN()
    variables = module.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    return (lambda x: module.apply(variables, x)), _floats(28, 28, 1)


def _equinox_mlp(tiny: bool):
    import equinox as eqx

    class Batched(eqx.Module):
        mlp: eqx.nn.MLP

        def __call__(self, x):
            return jax.vmap(self.mlp)(x)

    width = 32 if tiny else 512
    mlp = eqx.nn.MLP(64, 10, width, 3, activation=jax.nn.gelu, key=jax.random.key(0))
    return Batched(mlp), _floats(64)


def _haiku_mlp(tiny: bool):
    import haiku as hk

    width = 32 if tiny else 512
    net = hk.without_apply_rng(hk.transform(
        lambda x: jax.nn.softmax(hk.nets.MLP([width, width, 10])(x))))
    params = net.init(jax.random.key(0), jnp.zeros((1, 64)))
    return (lambda x: net.apply(params, x)), _floats(64)


def _others() -> list[ZooModel]:
    models = [ZooModel("linen_cnn", "linen", _linen_cnn)]
    if importlib.util.find_spec("equinox"):
        models.append(ZooModel("equinox_mlp", "equinox", _equinox_mlp))
    if importlib.util.find_spec("haiku"):
        models.append(ZooModel("haiku_mlp", "haiku", _haiku_mlp))
    return models


ZOO: dict[str, ZooModel] = {m.name: m for m in _nnx_models() + _others()}


def build(name: str, tiny: bool) -> tuple[Any, Callable[[int], list[np.ndarray]]]:
    return ZOO[name].build(tiny)
