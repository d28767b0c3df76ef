"""Built-in datasets: real (Fashion-MNIST from Debian) and procedural."""
