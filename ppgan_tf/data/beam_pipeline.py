"""The face preprocessing as an Apache Beam pipeline: photos in, sharded TFRecords out.

Runs locally with the DirectRunner and, unchanged, on Dataflow, Flink or
Spark (pass their pipeline options). Each worker builds one detector in
`setup()` and calls the same `prepare.process_photo` as the local tool.
Outputs, under OUTPUT:
    faces-SSSSS-of-NNNNN.tfrecord   one `tf.train.Example` per face (see tfrecords.py)
    skipped.jsonl                   {"key", "problem"} per photo without a face
    summary.json                    counts from the pipeline's metrics
"""

import json
import os
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from ppgan_tf.data import prepare, tfrecords

SKIPPED = "skipped"
_NAMESPACE = "ppgan_tf.prepare"


class DetectAndAlign(beam.DoFn):
    """Photo record -> serialized examples of its faces, or a 'skipped' output."""

    def __init__(self, settings):
        self.settings = settings
        self.detector = None

    def setup(self):
        self.detector = self.settings.make_detector()

    def process(self, record):
        result = prepare.process_photo(record, self.detector, self.settings)
        beam.metrics.Metrics.counter(_NAMESPACE, "photos").inc()
        if result.problem:
            beam.metrics.Metrics.counter(_NAMESPACE, f"skipped: {result.problem.split(' (')[0]}").inc()
            yield beam.pvalue.TaggedOutput(SKIPPED, {"key": record.key, "problem": result.problem})
            return
        beam.metrics.Metrics.counter(_NAMESPACE, "photos_with_faces").inc()
        for index, (face, aligned) in enumerate(zip(result.faces, result.crops)):
            beam.metrics.Metrics.counter(_NAMESPACE, "faces").inc()
            yield tfrecords.face_example(record, index, face, aligned).SerializeToString()


def run(records, output_dir, settings, pipeline_args=(), num_shards=0):
    """Builds and runs the pipeline over `records`; returns the summary it writes."""
    started = time.time()
    os.makedirs(output_dir, exist_ok=True)
    pipeline = beam.Pipeline(options=PipelineOptions(list(pipeline_args)))
    outputs = (
        pipeline
        | "Photos" >> beam.Create(records)
        | "DetectAndAlign" >> beam.ParDo(DetectAndAlign(settings)).with_outputs(SKIPPED, main="faces")
    )
    outputs.faces | "WriteFaces" >> beam.io.WriteToTFRecord(
        os.path.join(output_dir, "faces"), file_name_suffix=".tfrecord", num_shards=num_shards
    )
    outputs[SKIPPED] | "ToJson" >> beam.Map(json.dumps, sort_keys=True) | "WriteSkipped" >> beam.io.WriteToText(
        os.path.join(output_dir, "skipped"), file_name_suffix=".jsonl", shard_name_template=""
    )
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.time() - started

    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(beam.metrics.MetricsFilter().with_namespace(_NAMESPACE))["counters"]
    }
    summary = {
        "photos": counters.get("photos", 0),
        "photos_with_faces": counters.get("photos_with_faces", 0),
        "faces": counters.get("faces", 0),
        "skipped": {k[len("skipped: "):]: v for k, v in sorted(counters.items()) if k.startswith("skipped: ")},
        "seconds": round(seconds, 2),
        "photos_per_second": round(counters.get("photos", 0) / seconds, 2) if seconds else 0.0,
    }
    with open(os.path.join(output_dir, prepare.SUMMARY_FILENAME), "w") as f:
        json.dump(summary, f, indent=2)
    return summary
