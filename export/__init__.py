"""Tools that export a trained generator for serving and for devices."""
