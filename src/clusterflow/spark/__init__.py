"""clusterflow.spark"""
