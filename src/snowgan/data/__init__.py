"""Image sources -> decoded, sized uint8 arrays -> batches on the device."""
