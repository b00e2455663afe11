"""The PP-GAN discriminator D: a PatchGAN that judges one image, not a pair, or heads on a frozen face network."""

import keras
import numpy as np

from ppgan_tf.models.recognisers import load_recogniser


@keras.saving.register_keras_serializable(package="ppgan_tf")
class PatchDiscriminator(keras.Model):
    """PatchGAN: a grid of real/fake logits, each seeing one image patch.

    Unlike pix2pix, D sees a single image (PP-GAN has no target image to pair
    the input with). With the defaults a 128x128 input gives 30x30 logits,
    each with a receptive field of 34x34 pixels.

    Args:
        channels: int, image channels (1 or 3).
        base_filters: int, filters of the first convolution; doubled per
            downsampling block.
        downsampling_blocks: int, stride-2 blocks; 2 gives the receptive field
            of 34, 3 pix2pix's 70.
        dtype: string or `keras.DTypePolicy`, passed to every sub-layer. The
            logits are always float32.
        **kwargs: standard `keras.Model` arguments, e.g. `name`.

    Example:
    >>> discriminator = PatchDiscriminator(channels=1)
    >>> discriminator(keras.ops.zeros([1, 128, 128, 1])).shape
    TensorShape([1, 30, 30, 1])
    """

    def __init__(self, channels=1, base_filters=64, downsampling_blocks=2, dtype=None, **kwargs):
        super().__init__(dtype=dtype, **kwargs)

        # === Config ===
        self.channels = channels
        self.base_filters = base_filters
        self.downsampling_blocks = downsampling_blocks

        # === Layers ===
        init = keras.initializers.RandomNormal(stddev=0.02)
        # Stride-2 blocks, then one stride-1 block, then the 1-channel logits;
        # every kernel is 4x4 with 1 pixel of zero padding, as in pix2pix.
        strides = [2] * downsampling_blocks + [1, 1]
        filters = [base_filters * 2**i for i in range(downsampling_blocks + 1)] + [1]
        self.conv_layers = []
        self.body = []
        for i, (f, s) in enumerate(zip(filters, strides)):
            last = i == len(filters) - 1
            conv = keras.layers.Conv2D(
                f, 4, strides=s, padding="valid", use_bias=i == 0 or last,
                kernel_initializer=init, dtype="float32" if last else dtype,
                name="logits" if last else f"conv_{i}",
            )
            self.conv_layers.append(conv)
            self.body.append(keras.layers.ZeroPadding2D(1, dtype=dtype))
            self.body.append(conv)
            if not last:
                if i > 0:
                    self.body.append(
                        keras.layers.BatchNormalization(synchronized=True, dtype=dtype)
                    )
                self.body.append(keras.layers.LeakyReLU(0.2, dtype=dtype))

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.body:
            x = layer(x, training=training) if isinstance(layer, keras.layers.BatchNormalization) else layer(x)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "channels": self.channels,
                "base_filters": self.base_filters,
                "downsampling_blocks": self.downsampling_blocks,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="ppgan_tf")
class ProjectedDiscriminator(keras.Model):
    """D as small trainable heads on a frozen face network's feature maps (a projected GAN).

    A PatchGAN trained for a few thousand steps from scratch knows little of
    what faces look like; SFace's intermediate features do (it learnt them
    from a large face dataset). Each head judges one stage's map, so a
    logit sees a region of the face through the features a recogniser
    builds from it, where a painted band is unlike any real face's eyes or
    brows. The backbone stays frozen: only the heads learn, and G's
    gradient flows through the backbone to the image. D sees only the
    backbone's crop (SFace: the template's inner face).

    Args:
        backbone: name of the frozen network (`recognisers.load_recogniser`):
            'sface'.
        stages: how many of its last stages (before the 7x7 one) get a head.
        filters: width of each head.
        channels: int, image channels (1 or 3; grey is repeated to RGB).
        condition_size: length of the condition vector D judges each face
            given (0: none). With one, each head's logit gains the inner
            product of its features with a learnt projection of the condition
            (a projection discriminator, Miyato & Koyama 2018): D asks whether
            the face is a real face of that kind, e.g. of x's gender and race.
        dtype: string or `keras.DTypePolicy`, passed to every head layer. The
            logits are always float32.
        **kwargs: standard `keras.Model` arguments, e.g. `name`.

    Returns (on call with the images and, when `condition_size`, a float
    `[batch, condition_size]` condition; none reads as zeros) float32 logits
    `[batch, h, w, stages]`: one channel per head, every coarser head's logits
    repeated up to the finest head's grid, so each head weighs alike in a mean
    over the logits.

    Example:
    >>> discriminator = ProjectedDiscriminator(channels=3, condition_size=7)
    >>> discriminator(keras.ops.zeros([1, 128, 128, 3]), keras.ops.zeros([1, 7])).shape
    TensorShape([1, 28, 28, 2])
    """

    def __init__(self, backbone="sface", stages=2, filters=64, channels=3, condition_size=0, dtype=None, **kwargs):
        super().__init__(dtype=dtype, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.stages = stages
        self.filters = filters
        self.channels = channels
        self.condition_size = condition_size

        # === Layers ===
        self._network = load_recogniser(backbone)
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.heads = [
            [keras.layers.Conv2D(filters, 1, kernel_initializer=init, dtype=dtype, name=f"head_{i}_mix"),
             keras.layers.LeakyReLU(0.2, dtype=dtype),
             keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer=init, dtype=dtype,
                                 name=f"head_{i}_conv"),
             keras.layers.LeakyReLU(0.2, dtype=dtype),
             keras.layers.Conv2D(1, 1, kernel_initializer=init, dtype="float32", name=f"head_{i}_logits")]
            for i in range(stages)
        ]
        self.condition_projections = [
            keras.layers.Dense(filters, use_bias=False, kernel_initializer=init, dtype="float32",
                               name=f"head_{i}_condition")
            for i in range(stages if condition_size else 0)
        ]

    def call(self, inputs, condition=None):
        features = self._network.stage_features(inputs, self.stages)
        if self.condition_size and condition is None:
            condition = keras.ops.zeros([keras.ops.shape(inputs)[0], self.condition_size])
        logits = []
        for i, (feature, head) in enumerate(zip(features, self.heads)):
            x = keras.ops.cast(feature, self.compute_dtype)
            for layer in head[:-1]:
                x = layer(x)
            logit = head[-1](x)
            if self.condition_size:
                projected = self.condition_projections[i](keras.ops.cast(condition, "float32"))
                logit = logit + keras.ops.sum(keras.ops.cast(x, "float32") * projected[:, None, None, :], axis=-1,
                                              keepdims=True)
            repeat = features[0].shape[1] // feature.shape[1]
            logits.append(keras.ops.repeat(keras.ops.repeat(logit, repeat, axis=1), repeat, axis=2))
        return keras.ops.concatenate(logits, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"backbone": self.backbone, "stages": self.stages, "filters": self.filters,
                       "channels": self.channels, "condition_size": self.condition_size})
        return config


def patch_centres(conv_layers, count, padding=1):
    """Input-pixel coordinate of the centre of each of `count` patches along one side.

    Each layer's output unit i is centred on input coordinate
    stride * i - padding + (kernel - 1) / 2; composed from the logits down.

    Args:
        conv_layers: `keras.layers.Conv2D` layers in the order they are applied.
        count: logits along the side.
        padding: zero padding before every convolution (1 in `PatchDiscriminator`).
    """
    centres = np.arange(count, dtype=np.float64)
    for layer in reversed(conv_layers):
        kernel, stride = layer.kernel_size[0], layer.strides[0]
        centres = stride * centres - padding + (kernel - 1) / 2.0
    return centres


def receptive_field(conv_layers):
    """Side in input pixels seen by one output unit of a chain of convolutions.

    Args:
        conv_layers: `keras.layers.Conv2D` layers in the order they are applied.
    """
    field, jump = 1, 1
    for layer in conv_layers:
        kernel, stride = layer.kernel_size[0], layer.strides[0]
        field += (kernel - 1) * jump
        jump *= stride
    return field
