"""Requests to the generator served by TF Serving, over REST or gRPC (the command: export.serving_client)."""

import base64
import json
import os
import urllib.request


SIGNATURE = "deidentify_image_bytes"


def rest_request(images_bytes):
    """The JSON body of a REST predict call: TF Serving's {"b64": ...} form for bytes."""
    return {
        "signature_name": SIGNATURE,
        "instances": [{"image_bytes": {"b64": base64.b64encode(data).decode()}} for data in images_bytes],
    }


def parse_rest_response(body):
    """PNG bytes from a REST predict response.

    With one output TF Serving lists the values themselves ({"b64": ...});
    with several, a dict per instance keyed by output name.
    """
    predictions = json.loads(body)["predictions"]
    return [base64.b64decode((p["png"] if "png" in p else p)["b64"]) for p in predictions]


def deidentify_rest(images_bytes, host="localhost", port=8501, model_name="ppgan", timeout=30):
    url = f"http://{host}:{port}/v1/models/{model_name}:predict"
    request = urllib.request.Request(
        url, data=json.dumps(rest_request(images_bytes)).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return parse_rest_response(response.read())


def deidentify_grpc(images_bytes, host="localhost", port=8500, model_name="ppgan", timeout=30):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = SIGNATURE
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(list(images_bytes), dtype=tf.string))
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=timeout)
    return list(tf.make_ndarray(response.outputs["png"]))
