"""The book's figure style: the palette is the JSON the widgets read, and the figure kinds draw what they say."""

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PolyCollection, QuadMesh  # noqa: E402

from qkv import plotting  # noqa: E402


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_palette_is_the_json_file_and_colour_blind_roles_are_distinct():
    data = json.loads((plotting.Path(plotting.__file__).parent / "palette.json").read_text())
    assert plotting.PALETTE == data
    roles = [data["roles"][r] for r in ("query", "key", "value", "output")]
    assert len(set(roles)) == 4


def test_book_style_sets_threads_seed_and_the_palette():
    torch.set_num_threads(2)
    plotting.use_book_style(seed=3)
    assert torch.get_num_threads() == 1
    first = torch.rand(1).item()
    plotting.use_book_style(seed=3)
    assert torch.rand(1).item() == first
    cycle = [matplotlib.colors.to_hex(c) for c in matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]]
    assert cycle == [c.lower() for c in plotting.PALETTE["series"]]
    assert matplotlib.rcParams["figure.figsize"][0] == plotting.COLUMN_WIDTH


def test_weights_heatmap_spans_zero_to_one_and_signed_is_centred(ax):
    plotting.heatmap(ax, torch.tensor([[0.2, 0.8]]))
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    assert mesh.get_clim() == (0.0, 1.0)
    ax.clear()
    plotting.heatmap(ax, torch.tensor([[-3.0, 1.0]]), signed=True)
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    assert mesh.get_clim() == (-3.0, 3.0)


def test_large_heatmaps_are_rasterised_small_ones_stay_vector(ax):
    plotting.heatmap(ax, np.zeros((4, 4)))
    assert not next(c for c in ax.collections if isinstance(c, QuadMesh)).get_rasterized()
    ax.clear()
    plotting.heatmap(ax, np.zeros((60, 60)))
    assert next(c for c in ax.collections if isinstance(c, QuadMesh)).get_rasterized()


def test_curves_draw_a_band_only_for_several_seeds(ax):
    plotting.curves(ax, {"one": [1.0, 0.5]})
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    means = plotting.curves(ax, {"three": [[1.0, 0.5], [2.0, 0.5], [3.0, 0.5]]}, colors={"three": "key"})
    band = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(band) == 1 and means["three"].tolist() == [2.0, 0.5]
    assert matplotlib.colors.to_hex(ax.lines[-1].get_color()) == plotting.ROLES["key"].lower()


def test_metric_vs_length_rejects_runs_of_the_wrong_length(ax):
    with pytest.raises(ValueError, match=r"runs\['x'\]: expected 3 values per run"):
        plotting.metric_vs_length(ax, [1, 2, 3], {"x": [0.5, 0.5]})
    with pytest.raises(TypeError, match="lengths: expected a sequence"):
        plotting.metric_vs_length(ax, 3, {"x": [0.5]})
