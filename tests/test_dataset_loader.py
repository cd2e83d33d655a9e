"""Batches: deterministic order, exact resume position, mirror, small data, rank slices."""

import numpy as np
import torch

from snowgan.config import Config
from snowgan.data.dataset import Batches
from snowgan.data.prepared import PreparedDataset
from snowgan.data.synthetic import CLASSES, builtin_dataset, builtin_images


def _ds(n: int = 10, h: int = 4) -> PreparedDataset:
    imgs = np.arange(n, dtype=np.uint8)[:, None, None, None].repeat(3, 1).repeat(h, 2).repeat(h, 3)
    imgs = imgs.copy()
    imgs[:, :, :, 0] = 255  # left column white: shows flips
    return PreparedDataset(images=imgs)


def test_epoch_covers_dataset_and_resume_continues_identically() -> None:
    a = Batches(_ds(), seed=1, device=torch.device("cpu"), target_hw=(4, 4), channels_last=False)
    first = [a.next_indices(5) for _ in range(2)]
    assert sorted(np.concatenate(first)) == list(range(10))
    state = a.state_dict()
    rest = [a.next_indices(5) for _ in range(3)]
    b = Batches(_ds(), seed=1, device=torch.device("cpu"), target_hw=(4, 4), channels_last=False)
    b.load_state_dict(state)
    assert all(np.array_equal(x, b.next_indices(5)) for x in rest)


def test_values_range_and_mirror() -> None:
    a = Batches(_ds(), seed=0, device=torch.device("cpu"), target_hw=(4, 4), mirror=True, channels_last=False)
    assert a.n == 20
    x = a.next(20).images
    assert x.shape == (20, 3, 4, 4) and x.min() >= -1 and x.max() <= 1
    left, right = x[:, 0, 0, 0], x[:, 0, 0, -1]
    assert (left == 1).sum() == 10 and (right == 1).sum() == 10  # half flipped


def test_smaller_than_batch_samples_with_replacement() -> None:
    a = Batches(_ds(3), seed=0, device=torch.device("cpu"), target_hw=(4, 4), channels_last=False)
    import warnings

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert len(a.next(8)) == 8
    assert any("fewer than the batch size" in str(x.message) for x in w)


def test_ranks_read_disjoint_slices_of_one_global_batch() -> None:
    full = Batches(_ds(), seed=2, device=torch.device("cpu"), target_hw=(4, 4), channels_last=False).next(6).images
    parts = [Batches(_ds(), seed=2, device=torch.device("cpu"), target_hw=(4, 4), rank=r, world=2,
                     channels_last=False).next(6).images for r in range(2)]
    assert torch.equal(torch.cat([full[0::2], full[1::2]]), torch.cat(parts))


def test_random_crop_when_stored_larger() -> None:
    a = Batches(_ds(4, h=6), seed=0, device=torch.device("cpu"), target_hw=(4, 4), channels_last=False)
    assert a.next(4).images.shape == (4, 3, 4, 4)


def test_builtin_classes_differ_and_any_size() -> None:
    imgs, labels = builtin_images(16, 24, 40)
    assert imgs.shape == (16, 3, 24, 40) and set(labels) == set(range(len(CLASSES)))
    means = np.stack([imgs[labels == k].reshape(-1, 3, 24 * 40).mean(axis=(0, 2)) for k in range(4)])
    # every pair of classes differs clearly in mean colour
    dists = [np.abs(means[i] - means[j]).max() for i in range(4) for j in range(i + 1, 4)]
    assert min(dists) > 10
    same, _ = builtin_images(4, 24, 40)
    assert np.array_equal(same, imgs[:4])  # deterministic, prefix-stable
    cfg = Config()
    cfg.data.image_size, cfg.data.channels, cfg.data.builtin_count = "32", 1, 8
    ds = builtin_dataset(cfg)
    assert ds.images.shape == (8, 1, 32, 32) and ds.class_names == list(CLASSES)
