"""clusterflow.formats"""
