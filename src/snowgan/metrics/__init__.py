"""Image-quality and collapse metrics."""
