"""Tests of the crm_bridge package."""
