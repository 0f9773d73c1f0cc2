"""The answers to the lessons' predictions, kept out of the notebooks.

A notebook asks ``predict(name, question, choices)``; the right choice and why live here, keyed by
the prediction's name, so a student reading a notebook (in JupyterLab, on GitHub, in any viewer)
meets the question and its choices only. The widget shows the verdict and the explanation after a
choice is checked. ``tests/test_predictions.py`` checks that every prediction of every notebook has
its answer here and that no notebook spells one out.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import check_choice


@dataclass(frozen=True)
class Answer:
    """The right choice (a letter: "A" is the first) and the explanation shown after a choice."""

    answer: str
    explanation: str


ANSWERS: dict[str, Answer] = {
    "00-fill-colour": Answer("C", "Both fill with 0, and 0 is halfway between -1 (black) and +1 (white). Copying "
                             "edge pixels or wrapping around would be other augmentations; DiffAugment pads with zeros."),
    "01-heldout-verdict": Answer("B", "100 images are few enough to memorise: D learns which images are real rather "
                                 "than what real digits look like, so digits it has not seen get a verdict closer to "
                                 "'fake'."),
    "02-cutout-share": Answer("C", "D is shown T(x) as real, so grey squares become part of what 'real' looks like: "
                              "G gains by painting them."),
    "03-plain-fakes": Answer("C", "D only ever trains on augmented images. G, judged on plain G(z), learns to produce "
                             "images that this D calls real, and D never sees them plain to correct itself."),
    "03-g-gradient": Answer("C", "G's loss is softplus(-D(G(z))) = -log σ(D(G(z))); its slope is -(1 - σ(D(G(z)))), "
                            "near 0 when D already says 'real' (σ near 1). The baseline's D says 'fake' to G(z): slope "
                            "near -1."),
    "04-gradient-through-t": Answer("B", "A detached copy cuts the graph: autograd has no path back to G. Rounding "
                                    "keeps the path, but a staircase has slope 0, so the gradient that arrives is "
                                    "exactly 0."),
    "04-lowest-fid": Answer("D", "Only DiffAugment regularises D without changing what G is asked to produce: reals "
                            "only teaches G the artifacts (lesson 02), D only breaks the balance (lesson 03), and the "
                            "baseline's D memorises its 100 digits (lesson 01)."),
    "04-strength-2": Answer("C", "Reals-only makes G imitate T(x), so a stronger T means stronger artifacts. D-only "
                            "widens the gap between what D trains on and what G is judged on. DiffAugment keeps D and "
                            "G on the same augmented images, so a stronger T is a stronger regulariser, not a "
                            "different target."),
    "05-least-helpful-op": Answer("A", "With one channel saturation changes nothing, so color is brightness and "
                                  "contrast only: they shift the whole image and leave the digit's shape, which D "
                                  "memorises, untouched."),
    "06-rot90-leak": Answer("C", "With p = 1 every image D sees, real or fake, is turned by a random multiple of 90 "
                            "degrees: an upright digit and a rotated one look equally real to D, so nothing pulls G "
                            "back to upright digits."),
    "07-what-t-changes": Answer("B", "T is a change of the picture only: a shifted 3 with a grey square on it is still "
                                "a 3, so D(T(x), y) keeps y. Transforming y would teach D to accept mislabelled "
                                "images; leaving T out of either step brings back lesson 02's or lesson 03's failure."),
    "08-copying-fid": Answer("A", "FID compares the statistics of two sets of features. Copies of the 100 faces have "
                             "exactly the training faces' statistics, so FID is about 0, the best possible score: "
                             "against its own training set FID rewards memorising, which is why this lesson measures "
                             "how far the samples sit from the training faces."),
}


def answer(name: str) -> Answer:
    """The answer of the prediction called ``name`` (one of :data:`ANSWERS`)."""
    return ANSWERS[check_choice("prediction name", name, ANSWERS)]
