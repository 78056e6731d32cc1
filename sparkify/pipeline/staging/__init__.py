"""Staging: S3 objects into the warehouse's staging tables, one partition at a time."""
