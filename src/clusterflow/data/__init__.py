"""clusterflow.data"""
