from ppgan_tf.deidentify.cli import run

run()
