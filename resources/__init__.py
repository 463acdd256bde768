"""Dagster resources: thin wrappers that hand the assets vidmine's database, media
folder and AI providers, configured from the environment and ``vidmine.yaml``."""

from resources.database import VidmineDatabase
from resources.media import MediaLibrary
from resources.providers import AIProviders

__all__ = ["AIProviders", "MediaLibrary", "VidmineDatabase"]
