"""Message content: parts (text, images, files), what each provider takes of them, and how the
transcript keeps their bytes."""
