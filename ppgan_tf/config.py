"""One run configuration: every knob of a run, saved as `config.json` beside its checkpoints.

Presets give a starting point (`default`: the built-in faces in ten CPU
minutes; `paper`: the paper's networks and optimiser); any field can then be
overridden, on the command line as `--FIELD=VALUE` (see `trainers/`).
"""

import dataclasses
import json
import os

from ppgan_tf import layout



def _field(default, help_text):
    return dataclasses.field(default=default, metadata={"help": help_text})


# Pretrained recognisers (ppgan_tf.models.recognisers) and the run's own Light CNN-9.
TEACHER_NAMES = ("sface", "facenet")
VERIFICATOR_NAMES = ("lightcnn", *TEACHER_NAMES)


def split_names(text):
    """'a+b' -> ['a', 'b'] (empty parts dropped)."""
    return [part.strip() for part in text.split("+") if part.strip()]


def _named_values(field, text, parse, meaning):
    """{name: parse(value)} of the 'name:value' entries of `text` joined by '+'; `parse` returns None for a value
    out of range. Raises ValueError naming `field` on a malformed or repeated entry."""
    values = {}
    for entry in split_names(text):
        name, _, value = entry.rpartition(":")
        try:
            parsed = parse(value) if name and name not in values else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValueError(f"{field}={text!r}: {entry!r} is not {meaning}")
        values[name] = parsed
    return values


@dataclasses.dataclass
class RunConfig:
    """Everything that defines a run. Field names are also the flag names."""

    # === Data ===
    data: str = _field("builtin:orl", "Manifest CSV, folder-per-identity tree, or 'builtin:orl'.")
    image_size: int = _field(128, "Side of the square face crops fed to the networks.")
    channels: int = _field(1, "1 for grey (the paper), 3 for colour.")
    crop_fraction: float = _field(1.0, "Side of the centred square crop, as a fraction of the shorter image side.")
    test_fraction: float = _field(0.1, "Share of each group held out for testing.")
    split_unit: str = _field("identity", "'identity' (test people unseen) or 'image'.")
    stratify_by: str = _field("", "Manifest attribute whose groups are each split 90/10; '' for none.")
    seed: int = _field(0, "Seed of the split, pair sampling, augmentation, noise and initialisation.")
    data_repeats: str = _field("", "Visits per epoch of each training face of a data source, as 'source:times' "
                                   "joined by '+' (e.g. 'utkface:3'; a source is named by its folder, the others "
                                   "are visited once): oversamples people rare elsewhere, so that D's real faces and "
                                   "G's inputs are not mostly LFW's white men.")

    # === Networks ===
    generator_base_filters: int = _field(32, "Filters of G's first encoder block.")
    generator_max_filters: int = _field(256, "Cap on G's filters; the width of its 1x1 embedding.")
    generator_dropout: float = _field(0.5, "Rate of G's two noise dropout layers.")
    generator_upsampling: str = _field("resize", "'transpose' (pix2pix) or 'resize' (no checkerboard).")
    discriminator_base_filters: int = _field(32, "Filters of D's first convolution (a projected D: each head's width).")
    discriminator_blocks: int = _field(2, "D's stride-2 blocks: 2 gives the paper's receptive field of 34 px, 3 "
                                          "pix2pix's 70 (a whole eye and brow).")
    discriminator_backbone: str = _field("", "'' for the PatchGAN on pixels (the paper), or 'sface': D as small heads "
                                             "on frozen SFace's 28x28 and 14x14 feature maps of the inner face (a "
                                             "projected GAN), which knows what faces look like from the start.")
    verificator_width: float = _field(0.5, "Width multiplier of Light CNN-9 (1.0 = published).")
    embedding_dim: int = _field(256, "Verificator embedding size.")

    # === Verificator pretraining ===
    verificator_dir: str = _field("", "A trained verificator to load; '' trains one into WORKDIR/verificator.")
    verificator_steps: int = _field(500, "Siamese training steps.")
    verificator_batch_size: int = _field(16, "Pairs per verificator step (half positive).")
    verificator_learning_rate: float = _field(1e-4, "Adam learning rate of the verificator.")
    verificator_decay: str = _field("constant", "V's learning rate over its steps: 'constant' or 'cosine' "
                                                "(decays to zero at verificator_steps).")
    verificator_teachers: str = _field("", "Pretrained recognisers V distils, e.g. 'sface' or 'sface+facenet' "
                                           "(ppgan_tf.models.recognisers); '' trains on identities alone.")
    distill_weight: float = _field(1.0, "Weight of the distillation loss beside the contrastive loss.")
    verificator_blend_share: float = _field(0.0, "Share of V's distillation faces blended with another face (new "
                                                 "exact targets from the teachers; needs verificator_teachers). A "
                                                 "pair with a blended face leaves the contrastive loss.")
    margin: float = _field(2.0, "Contrastive margin on unit embeddings.")
    test_pairs: int = _field(600, "Test pairs (half positive) for accuracy and its 10-fold threshold.")

    # === PP-GAN training ===
    setting: str = _field("ppgan", "Objective: cgan, cgan_sim, cgan_verif or ppgan.")
    lambda_verif: float = _field(1.0, "Weight l1 of the verificator loss.")
    lambda_sim: float = _field(10.0, "Weight l2 of the SSIM regulator loss.")
    verificators: str = _field("lightcnn", "What L_verif scores (x, G(x)) with: 'lightcnn' (the run's V), "
                                           "'sface', 'facenet', or several joined by '+' (the mean of their losses).")
    verif_warmup_steps: int = _field(0, "First steps with l1 = 0: G learns to reproduce faces before hiding them.")
    verif_ramp_steps: int = _field(0, "Steps after the warm-up over which l1 rises linearly to lambda_verif.")
    verif_views: bool = _field(False, "Score G(x) in L_verif through a random view (shift, blur, rescale, "
                                      "colour), so fooling V takes a real change, not an adversarial pattern.")
    verif_revert_share: float = _field(0.0, "Share of G(x) scored in L_verif with a random rectangle of x pasted "
                                            "back, so a single painted patch cannot fool V: the change spreads.")
    verif_grey: bool = _field(False, "V scores x and G(x) in grey in L_verif, so a colour cast cannot move its "
                                     "embedding: the identity change has to be in the face's shape and shading.")
    lambda_shading: float = _field(0.0, "Weight of L_shading (0: none, the paper): L1 between x's and G(x)'s "
                                        "luminance blurred by shading_sigma, so G cannot paint bands or bright "
                                        "patches over the face and must change its features instead.")
    shading_sigma: float = _field(4.0, "Gaussian sigma (pixels) of L_shading's blur: shading coarser than this is "
                                       "held to x's.")
    preserve_attributes: str = _field("", "Manifest attributes G(x) must keep reading as x's, e.g. 'gender' or "
                                          "'gender+race': a linear probe per attribute on the first verificator's "
                                          "embeddings of the labelled training faces reads it, and L_attr (the KL "
                                          "from x's reading to G(x)'s) weighs lambda_attributes.")
    lambda_attributes: float = _field(0.0, "Weight of L_attr (needs preserve_attributes).")
    balance_attributes: bool = _field(False, "Weigh every class of a preserved attribute alike: its probe fitted "
                                             "with each class weighted by the inverse of its share of the labelled "
                                             "faces, and each face's L_attr by that weight of the class the probe "
                                             "reads x as (the training faces are 72% male: unbalanced, a flipped "
                                             "woman costs G as much as a flipped man, and there are fewer women).")
    discriminator_condition: str = _field("", "Attributes a projected D judges each face given, e.g. 'gender+race' "
                                              "('': none): a linear probe of each on V's embedding (as L_attr's) "
                                              "reads x, and D asks whether the face is a real face of what x reads "
                                              "as (a projection discriminator), so the realism it teaches G does "
                                              "not pull every face towards the training set's majority.")
    destination_group: str = _field("", "Attributes whose group G(x) keeps on its way out of x's identity, e.g. "
                                        "'gender+race' ('': none): each training face gets a destination, a face of "
                                        "another training person of x's group (by its labels, else by L_attr's "
                                        "probes), and L_dest pulls G(x)'s embedding towards it, so the identity "
                                        "term pushes x towards another person of its group instead of any atypical "
                                        "face.")
    lambda_destination: float = _field(0.0, "Weight of L_dest (needs destination_group).")
    destination_margin: float = _field(1.2, "Distance to the destination's embedding within which L_dest stops "
                                            "pulling: beyond the recogniser's threshold, so G(x) moves towards that "
                                            "person without becoming them.")
    destination_candidates: int = _field(1, "Faces of x's group drawn for its destination; the one whose embedding "
                                            "is farthest from x's is taken (1: a random one), so the pull towards "
                                            "it adds to the identity term's push instead of holding G(x) near x.")
    destination_confidence: str = _field("", "Least probabilities with which L_dest's probes must read a face as "
                                             "its group's class for it to be drawn as a destination, as "
                                             "'attribute:probability' joined by '+', e.g. 'gender:0.9' ('': any face "
                                             "of the group), so the farthest candidate is another person, not an "
                                             "atypical member of the group (a man the gender probe half reads as a "
                                             "woman); a group with none such draws from all its faces.")
    adversarial_region: str = _field("image", "Patches L_cGAN is averaged over: 'image' (all of D's patches, the "
                                              "paper) or 'face' (those centred on the aligned face, where G changes "
                                              "it: a face is most of what D can tell apart, undiluted by background).")
    init_from: str = _field("", "A packaged model folder (e.g. ppgan_tf/pretrained) whose generator, and the step "
                                "its training reached, a new run starts from (D and the optimisers start fresh), so "
                                "a recipe can go on on a machine without its checkpoints; ignored once WORKDIR has one. "
                                "Its verificator too, unless verificator_dir is given.")
    steps: int = _field(600, "Generator/discriminator steps.")
    batch_size: int = _field(8, "Global batch size.")
    learning_rate: float = _field(2e-4, "Adam learning rate of G and D.")
    discriminator_learning_rate: float = _field(0.0, "Adam learning rate of D; 0 takes learning_rate. A faster D "
                                                     "(two time-scale update) keeps up with G.")
    discriminator_steps: int = _field(1, "D updates per G update: the first with G's, the others on the same "
                                         "real and generated faces, so D can keep up with a fast G.")
    r1_weight: float = _field(0.0, "gamma of the R1 penalty on D's gradient at real faces (0: none); a smooth D "
                                   "is not fooled by G's small perturbations.")
    beta_1: float = _field(0.5, "Adam beta_1 of G and D.")
    generator_average_decay: float = _field(0.0, "Decay of a moving average of G's weights kept beside G (0: none; "
                                                 "0.998 averages about the last 500 steps). Samples, the monitor, "
                                                 "the saved G and packaged checkpoints then come from the average, "
                                                 "which does not swing from checkpoint to checkpoint as G does.")
    flip: bool = _field(True, "Random horizontal flips of training faces.")

    # === Runtime ===
    precision: str = _field("auto", "float32, mixed_bfloat16 (CPU), mixed_float16 (GPU) or auto: mixed float16 on "
                                    "a GPU, mixed bfloat16 on a CPU with bfloat16 instructions, else float32.")
    strategy: str = _field("default", "default, mirrored or multi_worker (tf.distribute).")
    checkpoint_every: int = _field(200, "Steps between checkpoints.")
    keep_checkpoints: int = _field(3, "Checkpoints kept.")
    summary_every: int = _field(20, "Steps between TensorBoard scalars.")
    sample_every: int = _field(200, "Steps between sample grids (PNG and TensorBoard).")
    monitor_faces: int = _field(0, "Held-out faces judged at every sample grid (0: none): SSIM, de-identification by "
                                   "the recognisers G trains against and by dlib if installed, MTCNN detection of the "
                                   "outputs; logged to TensorBoard and WORKDIR/monitor.jsonl.")

    def validate(self):
        """Raises ValueError naming the first field that cannot work."""
        choices = {
            "split_unit": ("identity", "image"),
            "generator_upsampling": ("transpose", "resize"),
            "setting": ("cgan", "cgan_sim", "cgan_verif", "ppgan"),
            "precision": ("float32", "mixed_bfloat16", "mixed_float16", "auto"),
            "strategy": ("default", "mirrored", "multi_worker"),
            "adversarial_region": ("image", "face"),
            "discriminator_backbone": ("", "sface"),
            "verificator_decay": ("constant", "cosine"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}: choose one of {allowed}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels={self.channels}: must be 1 or 3")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction={self.test_fraction}: must be in (0, 1)")
        if self.monitor_faces < 0:
            raise ValueError(f"monitor_faces={self.monitor_faces}: must be 0 (none) or positive")
        if not 0.0 < self.crop_fraction <= 1.0:
            raise ValueError(f"crop_fraction={self.crop_fraction}: must be in (0, 1]")
        for name in ("steps", "batch_size", "verificator_batch_size", "checkpoint_every", "discriminator_steps",
                     "discriminator_blocks", "shading_sigma", "destination_candidates",
                     "summary_every", "sample_every", "test_pairs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be positive")
        for name, allowed in (("verificators", VERIFICATOR_NAMES), ("verificator_teachers", TEACHER_NAMES)):
            unknown = [part for part in split_names(getattr(self, name)) if part not in allowed]
            if unknown:
                raise ValueError(f"{name}={getattr(self, name)!r}: unknown {unknown}; choose from {allowed}")
        if not split_names(self.verificators):
            raise ValueError("verificators is empty: name at least one, e.g. 'lightcnn'")
        if not 0.0 <= self.verificator_blend_share <= 1.0:
            raise ValueError(f"verificator_blend_share={self.verificator_blend_share}: a share, in [0, 1]")
        if self.verificator_blend_share and not split_names(self.verificator_teachers):
            raise ValueError("verificator_blend_share needs verificator_teachers: a blend has no identity to learn")
        for weight, attributes in (("lambda_attributes", "preserve_attributes"),
                                   ("lambda_destination", "destination_group")):
            value, names = getattr(self, weight), getattr(self, attributes)
            if value < 0 or bool(value) != bool(split_names(names)):
                raise ValueError(f"{weight}={value}, {attributes}={names!r}: set both (a positive weight and the "
                                 "attributes) or neither")
        if self.lambda_destination and self.setting in ("cgan", "cgan_sim"):
            raise ValueError(f"lambda_destination with setting={self.setting!r}: L_dest goes with the identity term, "
                             "which this setting leaves out")
        unknown = set(self.destination_confidences()) - set(split_names(self.destination_group))
        if unknown:
            raise ValueError(f"destination_confidence={self.destination_confidence!r}: {sorted(unknown)} not in "
                             f"destination_group={self.destination_group!r}")
        if self.destination_margin < 0:
            raise ValueError(f"destination_margin={self.destination_margin}: must be >= 0")
        if self.balance_attributes and not split_names(self.preserve_attributes):
            raise ValueError("balance_attributes needs preserve_attributes: there is no class to balance")
        if not 0.0 <= self.generator_average_decay < 1.0:
            raise ValueError(f"generator_average_decay={self.generator_average_decay}: must be in [0, 1)")
        if not 0.0 <= self.verif_revert_share <= 1.0:
            raise ValueError(f"verif_revert_share={self.verif_revert_share}: a share, in [0, 1]")
        if self.r1_weight < 0 or self.lambda_shading < 0:
            raise ValueError(f"r1_weight={self.r1_weight}, lambda_shading={self.lambda_shading}: must be >= 0")
        if self.learning_rate <= 0 or self.discriminator_learning_rate < 0:
            raise ValueError("learning_rate must be positive and discriminator_learning_rate >= 0")
        if min(self.verif_warmup_steps, self.verif_ramp_steps) < 0:
            raise ValueError("verif_warmup_steps and verif_ramp_steps must be >= 0")
        if self.discriminator_backbone and self.adversarial_region != "image":
            raise ValueError(f"adversarial_region={self.adversarial_region!r}: a projected D "
                             f"(discriminator_backbone={self.discriminator_backbone!r}) sees only the inner face; "
                             "use 'image'")
        if split_names(self.discriminator_condition) and not self.discriminator_backbone:
            raise ValueError(f"discriminator_condition={self.discriminator_condition!r} needs a projected D "
                             "(discriminator_backbone='sface')")
        if self.verificator_batch_size % 2:
            raise ValueError("verificator_batch_size must be even (half positive pairs)")
        self.source_repeats()
        return self

    def source_repeats(self):
        """{source name: visits per epoch} of `data_repeats`; raises ValueError on a malformed entry."""
        return _named_values("data_repeats", self.data_repeats,
                             lambda times: int(times) if times.isdigit() and int(times) >= 1 else None,
                             "'source:times' with a new source and a whole number >= 1")

    def destination_confidences(self):
        """{attribute: least probability} of `destination_confidence`; raises ValueError on a malformed entry."""
        return _named_values("destination_confidence", self.destination_confidence,
                             lambda p: float(p) if 0.0 < float(p) < 1.0 else None,
                             "'attribute:probability' with a new attribute and a probability in (0, 1)")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes).validate()

    def save(self, directory):
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, layout.CONFIG)
        with open(path, "w") as f:
            json.dump(dataclasses.asdict(self), f, indent=2, sort_keys=True)
        return path

    @classmethod
    def load(cls, directory):
        with open(os.path.join(directory, layout.CONFIG)) as f:
            values = json.load(f)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{directory}/{layout.CONFIG}: unknown fields {unknown}")
        return cls(**values).validate()


# The field defaults are the built-in run: ORL faces, and D and V narrower
# than published so that verificator pretraining and PP-GAN training together
# fit in ten minutes on 2 CPU cores. The paper's setup (sec. 3-4) restores
# the published widths, pix2pix upsampling and Adam at 1e-5.
PRESETS = {
    "default": {},
    "paper": {
        "discriminator_base_filters": 64,
        "verificator_width": 1.0,
        "generator_upsampling": "transpose",
        "verificator_steps": 20000,
        "learning_rate": 1e-5,
        "steps": 100000,
        "batch_size": 32,
        "checkpoint_every": 2000,
        "sample_every": 1000,
        "summary_every": 100,
    },
}


# The recipe of the pretrained model that ships in the package (ppgan_tf/pretrained): colour faces of
# several datasets, each split on its own (give them with --data=a.csv,b.csv,...); V at the published
# widths distilled from SFace; G trained against SFace (the strongest verificator, which transferred best)
# through random views, with a margin just past SFace's threshold, first without the identity term and
# then with it ramped up; D's loss and L_cGAN on the patches over the face (where G changes it, so what D can
# tell apart is not diluted by background that G copies);
# bfloat16 on CPUs (float16 on GPUs); checkpoints often, for a run that goes on over days.
PRESETS["shipped"] = {
    **PRESETS["paper"],
    "channels": 3,
    "stratify_by": "dataset",
    "generator_upsampling": "resize",
    "verificator_teachers": "sface",
    "verificator_steps": 1500,
    "verificator_batch_size": 32,
    "verificator_learning_rate": 5e-4,
    "test_pairs": 1200,
    "verificators": "sface",
    "verif_views": True,
    "verif_revert_share": 0.75,
    "verif_grey": True,
    "adversarial_region": "face",
    "margin": 1.4,
    "lambda_verif": 1.0,
    "lambda_sim": 1.0,
    "verif_warmup_steps": 1000,
    "verif_ramp_steps": 3000,
    "learning_rate": 2e-4,
    "batch_size": 16,
    "steps": 40000,
    "checkpoint_every": 250,
    "sample_every": 500,
    "summary_every": 50,
    "monitor_faces": 64,
}


def get_config(preset="default"):
    """Returns the `RunConfig` of a named preset."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    return RunConfig(**PRESETS[preset]).validate()


def _is_switch(field):
    return field.type in (bool, "bool")


def parse_value(field, text):
    """Converts a command-line string to the type of a `RunConfig` field that is not a switch (absl parses those)."""
    kind = {"int": int, "float": float, "str": str}.get(field.type, field.type)
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{field.name}={text!r}: not a {kind.__name__}") from None


def config_fields():
    return dataclasses.fields(RunConfig)


def define_flags(flag_values):
    """Defines --preset and one absl flag per `RunConfig` field (default: the preset's).

    Switches are absl booleans, so `--verif_grey` and `--noverif_grey` work as well as `--verif_grey=true`.
    """
    from absl import flags

    flags.DEFINE_enum("preset", "default", sorted(PRESETS), "Config preset to start from.",
                      flag_values=flag_values)
    for field in config_fields():
        define = flags.DEFINE_bool if _is_switch(field) else flags.DEFINE_string
        define(field.name, None, f"{field.metadata['help']} (default {field.default!r})", flag_values=flag_values)


def config_from_flags(flag_values, workdir):
    """The run config: WORKDIR's saved one when resuming, else the preset; then the flags given.

    Only flags set on the command line override; so rerunning a work
    directory with `--steps=N` continues the same run for longer.
    """
    if os.path.exists(os.path.join(workdir, layout.CONFIG)):
        config = RunConfig.load(workdir)
    else:
        config = get_config(flag_values.preset)
    changes = {}
    for field in config_fields():
        flag = flag_values[field.name]
        if flag.present:
            changes[field.name] = flag.value if _is_switch(field) else parse_value(field, flag.value)
    return config.replace(**changes)
