"""Replay memories of synthetic data: stored images or a learned model."""

from keras_dfkd.replay.image_pool import ImagePool
from keras_dfkd.replay.replay import Replay
from keras_dfkd.replay.vae_encoder import VAEEncoder
from keras_dfkd.replay.vae_replay import VAEReplay

__all__ = ["ImagePool", "Replay", "VAEEncoder", "VAEReplay"]
