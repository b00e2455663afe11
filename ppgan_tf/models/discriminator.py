"""The PP-GAN discriminator D: a PatchGAN that judges one image, not a pair."""

import keras
import numpy as np


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
